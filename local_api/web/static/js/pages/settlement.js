// A show's settlement: each line with its formula, so it can be checked by hand.

import { api } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { dateTime, loadZones, money, num, pct, t } from "../i18n.js";
import { zoneNote } from "../tour.js";

// The API's formulas ("G x 20.0000%", "sum of costs", "(G - production)") in the page's
// language: percentages through Intl, the words through the strings table.
const FORMULA_WORDS = [
  [/sum of costs/g, "formula.sum_of_costs"],
  [/production/g, "formula.production"],
];

export function formulaText(formula) {
  let out = String(formula || "");
  for (const [pattern, key] of FORMULA_WORDS) out = out.replace(pattern, () => t(key));
  out = out.replace(/(\d+(?:\.\d+)?)%/g, (m, n) => pct(Number(n) / 100));
  return out.replace(/ x /g, " × ").replace(/ - /g, " − ");
}

// The API's warning codes and their texts (an unknown code shows as itself).
const WARNINGS = {
  cost_without_rate: "settlement.warn.cost_without_rate",
  fee_without_home_rate: "settlement.warn.fee_without_home_rate",
};

// A coded warning from the API ({code, params}) in words; amounts in their currency.
function warningText(w) {
  const params = { ...(w.params || {}) };
  if (params.amount !== undefined && params.currency) params.amount = money(params.amount, params.currency);
  return t(WARNINGS[w.code] || w.code, params);
}

async function main() {
  await boot();
  $("#print").addEventListener("click", () => window.print());
  await loadZones();
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
    when: dateTime(show.starts_at, show.tz) + zoneNote(show.tz) });
  clear(root);
  const rows = s.lines.map((line) => h("tr", { class: "line line-" + line.label },
    h("th", { scope: "row" }, t("settlement." + line.label),
      h("span", { class: "formula-inline", text: formulaText(line.formula) })),
    h("td", { class: "formula", text: formulaText(line.formula) }),
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
  if (s.complete === false) {
    // Money never disappears quietly: the missing cost is named, in the page's language.
    root.append(h("div", { class: "warnings", role: "note" },
      h("p", { class: "warn-title", text: t("settlement.incomplete") }),
      h("ul", {}, (s.warnings || []).map((w) => h("li", { class: "warn-" + w.code, text: warningText(w) })))));
  }
  root.removeAttribute("aria-busy");
}

main();
