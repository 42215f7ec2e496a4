// The board's cards, shared by the floor board (logged in, with actions) and the board
// screen (read only). Trouble first: broken, stopped (with reason and since when),
// maintenance, maintenance due, offline, idle, running. The status is the big colour;
// the machine's own colour is only a small mark by its name.

import { jobName } from "./cards.js";
import { h, safeColor } from "./dom.js";
import { label, num, pct, relative, t } from "./i18n.js";

/** The trouble a card shows, most urgent first: its key orders and colours the card. */
export function trouble(m) {
  if (m.status === "ERROR") return "broken";
  if (m.open_downtime) return "stopped";
  if (m.status === "MAINTENANCE") return "maintenance";
  if (maintenanceDue(m)) return "due";
  if (m.status === "OFFLINE") return "offline";
  if (m.status === "RUNNING") return "running";
  return "idle";
}

const RANK = { broken: 0, stopped: 1, maintenance: 2, due: 3, offline: 4, idle: 5, running: 6 };

export function maintenanceDue(m) {
  const due = Number(m.next_maintenance_at);
  return m.next_maintenance_at != null && Number.isFinite(due)
    && Number(m.total_meters || 0) >= due;
}

export function sortByTrouble(cards) {
  return [...cards].sort((a, b) => (RANK[trouble(a)] - RANK[trouble(b)])
    || String(a.name).localeCompare(String(b.name)));
}

function statusLine(m, kind) {
  if (kind === "stopped") {
    return t("display.stop_since", { reason: label("reason.", m.open_downtime.reason),
      when: relative(m.open_downtime.started_at) });
  }
  const word = kind === "due" ? `${label("machine.", m.status)} · ${t("display.maintenance_due")}`
    : label("machine.", m.status);
  return m.status_since ? `${word} · ${t("board.since", { when: relative(m.status_since) })}` : word;
}

/** One machine card. ``extra`` nodes (actions) go at the bottom. */
export function machineCard(m, { alertsLink = true } = {}, ...extra) {
  const kind = trouble(m);
  const job = m.current_job;
  const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
  const c = safeColor(m.color);
  if (c) swatch.style.setProperty("--machine", c);
  const li = h("li", { class: `card machine trouble-${kind}`,
    dataset: { machineId: m.id, status: m.status, trouble: kind } },
  h("div", { class: "card-head" },
    h("h2", { class: "card-title" }, swatch, m.name),
    h("span", { class: "machine-type", text: label("type.", m.type) })),
  h("p", { class: "status-line", text: statusLine(m, kind) }));
  if (job) {
    const p = Math.max(0, Math.min(100, Number(job.progress) || 0));
    li.append(h("div", { class: "current-job" },
      h("p", { class: "job-title", text: jobName(job) }),
      h("p", { class: "job-progress", text: t("jobs.progress_of", {
        produced: num(job.produced_qty, 1), quantity: num(job.quantity, 1),
        unit: job.unit || "", pct: num(p, 0) }) })));
  } else {
    li.append(h("p", { class: "current-job none", text: t("board.no_job") }));
  }
  const facts = [];
  if (m.oee_today != null) facts.push(`${t("board.oee_today")} ${pct(m.oee_today)}`);
  if (m.next_job) facts.push(`${t("board.next")}: ${m.next_job.title}`);
  if (facts.length) li.append(h("p", { class: "facts-line", text: facts.join(" · ") }));
  if (m.open_alerts) {
    const text = `${t("nav.alerts")}: ${m.open_alerts}`;
    li.append(alertsLink ? h("a", { class: "btn btn-alerts", href: "/app/alerts", text })
      : h("p", { class: "alerts-count", text }));
  }
  li.append(...extra);
  return li;
}
