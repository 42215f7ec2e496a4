// The operator's queue: running job first, then what is next. Reporting production is
// the main action; a job is offered for start only when its machine is free (and says
// why not otherwise); a machine's stop is a start/end pair with the running stop shown.

import { api, listAll } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import {
  afterSave, endDowntime, openDowntime, openReport, openStatus, pauseJob, setupFactoryDialogs,
  startBlocker, startJob, stopText,
} from "../factory.js";
import { jobBadge, jobName, progressBar, statusBadge } from "../cards.js";
import { dateTime, label, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";
import { openStops } from "../stops.js";
import { filesButton, setupFiles } from "../attach.js";

const OFFICE = ["admin", "office"];
let user = null;
let machines = new Map();
let stops = new Map();

function jobCard(job, index) {
  const m = machines.get(job.machine_id) || { id: job.machine_id, name: "?", status: "IDLE" };
  const stop = stops.get(m.id);
  const li = h("li", { class: "card job" + (index === 0 ? " next-up" : ""),
    dataset: { jobId: job.id, status: job.status } });
  const actions = h("div", { class: "actions" });
  if (job.status === "IN_PROGRESS" || job.status === "PAUSED") {
    actions.append(h("button", { type: "button", class: "btn btn-primary btn-big",
      "data-action": "report", onclick: () => openReport(job) }, t("jobs.report_progress")));
  }
  if (job.status === "PENDING" || job.status === "PAUSED") {
    const blocker = startBlocker(job, m, stop);
    if (blocker) {
      actions.append(h("p", { class: "blocked", "data-blocked": "start",
        text: t("jobs.not_startable", { why: blocker }) }));
    } else {
      const b = h("button", { type: "button", class: "btn btn-big" + (job.status === "PENDING"
        ? " btn-primary" : ""), "data-action": "start" },
      t(job.status === "PAUSED" ? "jobs.resume" : "jobs.start"));
      b.addEventListener("click", () => startJob(job, b));
      actions.append(b);
    }
  }
  if (job.status === "IN_PROGRESS") {
    const p = h("button", { type: "button", class: "btn btn-big", "data-action": "pause" },
      t("jobs.pause"));
    p.addEventListener("click", () => pauseJob(job, p));
    actions.append(p);
  }
  // The machine's stop: one big pair, the running stop in words on the card.
  const stopRow = h("div", { class: "actions actions-secondary stop-row" });
  if (stop) {
    const end = h("button", { type: "button", class: "btn btn-big btn-ok", "data-action": "downtime-end" },
      t("downtime.end"));
    end.addEventListener("click", () => endDowntime(m, stop, end));
    stopRow.append(h("p", { class: "stop-running", text: stopText(stop) }), end);
    // A photo of what stopped the machine belongs to the stop.
    if (stop.id) stopRow.append(filesButton({ entity: "downtimes", id: stop.id,
      title: `${m.name} · ${stopText(stop)}` }, { cls: "btn btn-files-stop" }));
  } else {
    stopRow.append(h("button", { type: "button", class: "btn btn-big btn-warn", "data-action": "downtime",
      onclick: () => openDowntime(m) }, t("downtime.start")));
  }
  stopRow.append(h("button", { type: "button", class: "btn", "data-action": "status",
    onclick: () => openStatus(m) }, t("status.title")));
  // The job's drawing, cutting list and photos, at the machine.
  actions.append(filesButton({ entity: "jobs", id: job.id, title: jobName(job) },
    { cls: "btn btn-files" }));
  li.append(
    h("div", { class: "card-head" },
      h("h3", { class: "card-title", text: jobName(job) }),
      jobBadge(job.status)),
    h("p", { class: "muted" }, h("span", { text: m.name }), " ", statusBadge(m.status),
      job.due_at ? h("span", { text: " · " + t("jobs.due", { when: dateTime(job.due_at) }) }) : null,
      job.priority && job.priority !== "NORMAL"
        ? h("span", { class: "badge prio-" + job.priority.toLowerCase(),
          text: label("priority.", job.priority) }) : null),
    progressBar(job),
    h("ul", { class: "pending-ops", "data-pending-for": job.id }),
    actions, stopRow);
  return li;
}

/** Operations still waiting to be sent, on the card they belong to. */
function showPendingOps(ops) {
  for (const list of document.querySelectorAll("[data-pending-for]")) {
    clear(list);
    for (const op of ops.filter((o) => o.scope && o.scope.job_id === list.dataset.pendingFor)) {
      list.append(h("li", { class: "pending-op", text: `${t("queue.pending_badge")}: ${t(op.what.key, op.what.params)}` }));
    }
  }
}

let lastPending = [];

async function load() {
  const list = $("#jobs");
  try {
    // The office sees every active job (it is assigned none); an operator their queue.
    const jobsRead = OFFICE.includes(user.role)
      ? listAll("jobs", { status__in: "IN_PROGRESS,PAUSED,PENDING", sort: "sequence" })
      : api("/api/me/jobs");
    const [jobs, ms] = await Promise.all([jobsRead, listAll("machines")]);
    const byId = new Map(jobs.map((j) => [j.id, j]));
    // A machine's running job by title, not by id, when it is one of mine.
    machines = new Map(ms.map((m) => [m.id, { ...m, current_job: m.current_job
      || byId.get(m.current_job_id) || null }]));
    stops = await openStops();
    clear(list);
    jobs.forEach((job, i) => list.append(jobCard(job, i)));
    $("#jobs-empty").hidden = jobs.length > 0;
    list.removeAttribute("aria-busy");
    showPendingOps(lastPending);
  } catch (err) {
    explain(err, { what: t("jobs.load_failed") });
  }
}

async function main() {
  document.addEventListener("structura:pending", (e) => { lastPending = e.detail; showPendingOps(e.detail); });
  user = await boot();
  setupFactoryDialogs();
  setupFiles();
  afterSave(debounce(load, 150));
  await load();
  const reload = debounce(load, 120);
  subscribe({ entities: ["jobs", "machines", "downtimes"], onChange: reload, onResync: reload });
}

main();
