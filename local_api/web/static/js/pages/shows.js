// Shows for office staff, each opening its settlement.

import { listAll } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { dateTime, loadZones, money, t } from "../i18n.js";
import { zoneNote } from "../tour.js";

async function main() {
  await boot();
  await loadZones();
  const list = $("#shows");
  try {
    const rows = await listAll("shows", { sort: "starts_at" });
    clear(list);
    for (const s of rows) {
      list.append(h("li", { class: "row", dataset: { showId: s.id } },
        h("div", { class: "row-main" },
          h("p", { class: "row-title", text: `${s.city}${s.venue ? " · " + s.venue : ""}` }),
          h("p", { class: "muted" },
            h("span", { class: "show-when", text: `${dateTime(s.starts_at, s.tz)}${zoneNote(s.tz)}` }),
            ` · ${money(s.fee, s.currency)}`),
          h("span", { class: "badge show-" + s.status, text: t("show." + s.status) })),
        h("a", { class: "btn", href: `/app/shows/${encodeURIComponent(s.id)}` }, t("settlement.title"))));
    }
    $("#shows-empty").hidden = rows.length > 0;
    list.removeAttribute("aria-busy");
  } catch (err) { explain(err, { what: t("shows.load_failed") }); }
}

main();
