// A show's settlement: each line with its formula, so it can be checked by hand.

import { api } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { dateTime, money, num, t } from "../i18n.js";

// "G x 20.0000%" reads better as "G x 20%": drop the zeros the API keeps for exactness.
function tidy(formula) {
  return formula.replace(/(\d+\.\d*?)0+(?=%)/g, "$1").replace(/\.(?=%)/g, "");
}

async function main() {
  await boot();
  const root = $("#settlement");
  const id = root.dataset.showId;
  let show, s;
  try {
    [show, s] = await Promise.all([
      api(`/api/shows/${encodeURIComponent(id)}`),
      api(`/api/shows/${encodeURIComponent(id)}/settlement`),
    ]);
  } catch (err) { explain(err, { what: t("settlement.load_failed") }); root.removeAttribute("aria-busy"); return; }
  $("#settlement-title").textContent = t("settlement.of", { city: show.city,
    when: dateTime(show.starts_at, show.tz) });
  clear(root);
  const rows = s.lines.map((line) => h("tr", { class: "line line-" + line.label },
    h("th", { scope: "row" }, t("settlement." + line.label),
      h("span", { class: "formula-inline", text: tidy(line.formula) })),
    h("td", { class: "formula", text: tidy(line.formula) }),
    h("td", { class: "amount", text: money(line.amount, s.currency) })));
  root.append(h("table", { class: "settlement" },
    h("caption", { text: t("settlement.caption", { currency: s.currency }) }),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", text: t("settlement.line") }),
      h("th", { scope: "col", class: "formula", text: t("settlement.formula") }),
      h("th", { scope: "col", class: "amount", text: t("settlement.amount") }))),
    h("tbody", {}, rows)));
  if (s.home_currency !== s.currency) {
    root.append(h("p", { class: "panel", text: s.net_home != null
      ? t("settlement.home", { rate: num(s.fx_rate, 6), amount: money(s.net_home, s.home_currency) })
      : t("settlement.no_rate", { home: s.home_currency }) }));
  }
  if (s.warnings && s.warnings.length) {
    root.append(h("ul", { class: "warnings", role: "note" }, s.warnings.map((w) => h("li", { text: w }))));
  }
  root.removeAttribute("aria-busy");
}

main();
