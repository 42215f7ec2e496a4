// The machine board: one card per machine, kept current by the live stream.

import { api } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { afterSave, openDowntime, openStatus, setupFactoryDialogs } from "../factory.js";
import { applyMachineColor, progressBar, statusBadge } from "../cards.js";
import { pct, relative, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";

const FLOOR = ["admin", "office", "operator"];
let user = null;
let loading = null;

function card(m) {
  const job = m.current_job;
  const li = h("li", { class: "card machine", dataset: { machineId: m.id, status: m.status } });
  applyMachineColor(li, m.color);
  li.append(
    h("div", { class: "card-head" },
      h("h2", { class: "card-title", text: m.name }),
      statusBadge(m.status)),
    h("p", { class: "muted", text: [t("type." + m.type), m.status_since
      ? t("board.since", { when: relative(m.status_since) }) : ""].filter(Boolean).join(" · ") }),
  );
  if (job) {
    li.append(h("div", { class: "current-job" },
      h("p", { class: "label", text: t("board.current") }),
      h("p", { class: "job-title", text: job.title }),
      progressBar(job)));
  } else {
    li.append(h("p", { class: "current-job none", text: t("board.no_job") }));
  }
  const facts = h("dl", { class: "facts" },
    h("div", {}, h("dt", { text: t("board.oee_today") }),
      h("dd", { class: "oee", text: pct(m.oee_today) })),
    h("div", {}, h("dt", { text: t("board.next") }),
      h("dd", { text: m.next_job ? m.next_job.title : "–" })));
  if (m.open_alerts) {
    facts.append(h("div", { class: "has-alerts" }, h("dt", { text: t("nav.alerts") }),
      h("dd", {}, h("a", { href: "/app/alerts", text: String(m.open_alerts) }))));
  }
  li.append(facts);
  if (FLOOR.includes(user.role)) {
    li.append(h("div", { class: "actions actions-secondary" },
      h("button", { type: "button", class: "btn", onclick: () => openStatus(m) },
        t("status.title")),
      h("button", { type: "button", class: "btn btn-warn", onclick: () => openDowntime(m) },
        t("downtime.title"))));
  }
  return li;
}

async function load() {
  // One board fetch at a time; a change during a fetch queues exactly one more.
  if (loading) { loading.again = true; return; }
  loading = { again: false };
  const list = $("#board");
  try {
    const cards = await api("/api/board");
    clear(list);
    for (const m of cards) list.append(card(m));
    $("#board-empty").hidden = cards.length > 0;
    list.removeAttribute("aria-busy");
    list.dataset.loadedAt = String(Date.now());
  } catch (err) {
    explain(err, { what: t("board.load_failed") });
  } finally {
    const again = loading.again;
    loading = null;
    if (again) load();
  }
}

function liveState(state) {
  const p = $("#live-state");
  p.dataset.state = state;
  p.textContent = t("live." + state);
}

async function main() {
  user = await boot();
  setupFactoryDialogs();
  afterSave(load);
  await load();
  const reload = debounce(load, 80);
  subscribe({
    entities: ["machines", "jobs", "alerts", "downtimes"],
    onChange: reload,
    onResync: reload,
    onState: liveState,
  });
}

main();
