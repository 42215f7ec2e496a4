// The operator's queue: running job first, then what is next, each one tap away.

import { api, listAll } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import {
  afterSave, openComplete, openDowntime, openStatus, pauseJob, setupFactoryDialogs, startJob,
} from "../factory.js";
import { applyMachineColor, jobBadge, progressBar, statusBadge } from "../cards.js";
import { dateTime, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";

let machines = new Map();

function jobCard(job, index) {
  const m = machines.get(job.machine_id) || { id: job.machine_id, name: "?", status: "IDLE" };
  const li = h("li", { class: "card job" + (index === 0 ? " next-up" : ""),
    dataset: { jobId: job.id, status: job.status } });
  applyMachineColor(li, m.color);
  const actions = h("div", { class: "actions" });
  if (job.status === "PENDING" || job.status === "PAUSED") {
    const b = h("button", { type: "button", class: "btn btn-primary btn-big", "data-action": "start" },
      t(job.status === "PAUSED" ? "jobs.resume" : "jobs.start"));
    b.addEventListener("click", () => startJob(job, b));
    actions.append(b);
  }
  if (job.status === "IN_PROGRESS") {
    const p = h("button", { type: "button", class: "btn btn-big", "data-action": "pause" },
      t("jobs.pause"));
    p.addEventListener("click", () => pauseJob(job, p));
    actions.append(p);
  }
  if (job.status === "IN_PROGRESS" || job.status === "PAUSED") {
    actions.append(h("button", { type: "button", class: "btn btn-primary btn-big",
      "data-action": "complete", onclick: () => openComplete(job) }, t("jobs.report")));
  }
  // The machine's actions are secondary: smaller, on their own row.
  const machineActions = h("div", { class: "actions actions-secondary" },
    h("button", { type: "button", class: "btn btn-warn", "data-action": "downtime",
      onclick: () => openDowntime(m) }, t("downtime.title")),
    h("button", { type: "button", class: "btn", "data-action": "status",
      onclick: () => openStatus(m) }, t("status.title")));
  li.append(
    h("div", { class: "card-head" },
      h("h3", { class: "card-title", text: job.title }), jobBadge(job.status)),
    h("p", { class: "muted" }, h("span", { text: m.name }), " ", statusBadge(m.status),
      job.due_at ? h("span", { text: " · " + t("jobs.due", { when: dateTime(job.due_at) }) }) : null,
      job.priority && job.priority !== "NORMAL"
        ? h("span", { class: "badge prio-" + job.priority.toLowerCase(),
          text: t("priority." + job.priority) }) : null),
    progressBar(job),
    actions, machineActions);
  return li;
}

async function load() {
  const list = $("#jobs");
  try {
    const [jobs, ms] = await Promise.all([api("/api/me/jobs"), listAll("machines")]);
    machines = new Map(ms.map((m) => [m.id, m]));
    clear(list);
    jobs.forEach((job, i) => list.append(jobCard(job, i)));
    $("#jobs-empty").hidden = jobs.length > 0;
    list.removeAttribute("aria-busy");
  } catch (err) {
    explain(err, { what: t("jobs.load_failed") });
  }
}

async function main() {
  await boot();
  setupFactoryDialogs();
  afterSave(load);
  await load();
  const reload = debounce(load, 120);
  subscribe({ entities: ["jobs", "machines"], onChange: reload, onResync: reload });
}

main();
