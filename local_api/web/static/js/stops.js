// Open stops (downtimes without an end), by machine: the card shows the running stop
// and offers to end it. A board that sends ``open_downtime`` on its cards is used as
// is; otherwise the open downtimes are read once per load.

import { listAll } from "./api.js";

export async function openStops(cards = []) {
  const byMachine = new Map();
  let fromCards = false;
  for (const c of cards) {
    if ("open_downtime" in c) {
      fromCards = true;
      if (c.open_downtime) byMachine.set(c.id, c.open_downtime);
    }
  }
  if (fromCards) return byMachine;
  try {
    const rows = await listAll("downtimes", { ended_at__isnull: "true", sort: "started_at" });
    for (const d of rows) if (!d.ended_at) byMachine.set(d.machine_id, d);
  } catch { /* not readable here: cards show no running stop */ }
  return byMachine;
}
