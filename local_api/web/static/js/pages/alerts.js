// Open alerts, most severe first; dismiss with one tap.

import { api, listAll } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { dateTime, has, num, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";
import { busy, toast } from "../ui.js";

const RANK = { CRITICAL: 0, WARNING: 1, INFO: 2 };

/** An alert in the page's language from its kind (and its params when the API sends
 *  them, else the machine's own counters); a hand-written alert is shown as typed. */
export function alertText(alert, machine) {
  const key = "alert." + alert.kind;
  if (!has(key)) return alert.message;
  const p = alert.params || {};
  const m = machine || {};
  const total = p.total ?? m.total_meters;
  const due = p.due ?? m.next_maintenance_at;
  return t(key, {
    machine: p.machine ?? m.name ?? "",
    total: num(total, 0), due: num(due, 0),
    left: num(p.left ?? (due != null && total != null ? Number(due) - Number(total) : null), 0),
    note: p.note ? ": " + p.note : typedNote(alert, m),
  });
}

// Until alerts carry params, the note a person typed with an ERROR status is the text
// after the first ": " of the stored message (the rest of it is the server's wording).
function typedNote(alert, m) {
  if (alert.kind !== "machine_error" || !m.name) return "";
  const at = alert.message.indexOf(": ", m.name.length);
  return at >= 0 ? alert.message.slice(at) : "";
}

function item(alert, machines) {
  const button = h("button", { type: "button", class: "btn", "data-action": "dismiss" },
    t("alerts.dismiss"));
  button.addEventListener("click", () => busy(button, async () => {
    try {
      await api(`/api/alerts/${encodeURIComponent(alert.id)}/dismiss`, { method: "POST" });
      toast(t("alerts.dismissed"));
      load();
    } catch (err) { explain(err); }
  }));
  const machine = machines.get(alert.machine_id);
  return h("li", { class: `row alert alert-${alert.severity.toLowerCase()}`,
    dataset: { alertId: alert.id } },
  h("div", { class: "row-main" },
    h("span", { class: `badge sev-${alert.severity.toLowerCase()}`,
      text: t("severity." + alert.severity) }),
    h("p", { class: "row-title", text: alertText(alert, machine) }),
    h("p", { class: "muted", text: [machine ? machine.name : null,
      dateTime(alert.raised_at)].filter(Boolean).join(" · ") })),
  button);
}

async function load() {
  const list = $("#alerts");
  try {
    const [alerts, machines] = await Promise.all([
      listAll("alerts", { dismissed_at__isnull: "true", sort: "-raised_at" }),
      listAll("machines"),
    ]);
    const byId = new Map(machines.map((m) => [m.id, m]));
    alerts.sort((a, b) => (RANK[a.severity] ?? 3) - (RANK[b.severity] ?? 3));
    clear(list);
    for (const a of alerts) list.append(item(a, byId));
    $("#alerts-empty").hidden = alerts.length > 0;
    list.removeAttribute("aria-busy");
  } catch (err) { explain(err, { what: t("alerts.load_failed") }); }
}

async function main() {
  await boot();
  await load();
  const reload = debounce(load, 120);
  subscribe({ entities: ["alerts"], onChange: reload, onResync: reload });
}

main();
