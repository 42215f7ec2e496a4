// Travel items, upcoming first (past ones on request).

import { listAll } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear } from "../dom.js";
import { loadZones, t } from "../i18n.js";
import { travelItem } from "../tour.js";
import { setupFiles } from "../attach.js";

async function load() {
  const list = $("#travel");
  const params = { sort: "departs_at" };
  if (!$("#travel-past").checked) {
    params.departs_at__gte = new Date(Date.now() - 86400000).toISOString();
  }
  try {
    const rows = await listAll("travel", params);
    clear(list);
    for (const leg of rows) list.append(travelItem(leg, { withDate: true }));
    $("#travel-empty").hidden = rows.length > 0;
    list.removeAttribute("aria-busy");
  } catch (err) { explain(err, { what: t("travel.load_failed") }); }
}

async function main() {
  await boot();
  setupFiles();
  await loadZones();
  $("#travel-past").addEventListener("change", load);
  await load();
}

main();
