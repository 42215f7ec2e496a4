// Shop-floor actions shared by the board and the operator's queue: start, pause,
// production reports, closing a job (short with a reason and a confirmation), stops
// started and ended, machine status. Every action goes through the queue (queue.js):
// sent at once when the site answers, kept on the device and sent later when it does
// not. Reports are increments, so two people reporting on one job add up: no version,
// no conflict dialog for quantities.

import { act } from "./app.js";
import { $ } from "./dom.js";
import { label, num, relative, t } from "./i18n.js";
import { busy, clearDraft, clearErrors, keepDraft, openDialog, restoreDraft } from "./ui.js";

let onSaved = () => {};

/** Called after any action (the page reloads what it shows). */
export function afterSave(fn) {
  onSaved = fn;
  document.addEventListener("structura:saved", () => onSaved());
}

const jobPath = (job, verb) => `/api/jobs/${encodeURIComponent(job.id)}/${verb}`;
const jobName = (job) => {
  const number = job.doc_number || job.number;
  return number ? `${number} · ${job.title}` : job.title;
};

export async function startJob(job, button) {
  await busy(button, () => act({
    path: jobPath(job, "start"), scope: { job_id: job.id },
    what: { key: "op.start", params: { title: jobName(job) } },
  }, { done: t("jobs.started", { title: jobName(job) }) }));
}

export async function pauseJob(job, button) {
  await busy(button, () => act({
    path: jobPath(job, "pause"), scope: { job_id: job.id },
    what: { key: "op.pause", params: { title: jobName(job) } },
  }, { done: t("jobs.paused", { title: jobName(job) }) }));
}

/** Why a job cannot be started now (its machine runs another job or is stopped), or
 *  null. ``m`` is the machine's card; ``stop`` its running stop, if any. */
export function startBlocker(job, m, stop) {
  if (!m) return null;
  if (stop) return t("jobs.machine_stopped", { reason: label("reason.", stop.reason) });
  const current = m.current_job_id || (m.current_job && m.current_job.id);
  if (current && current !== job.id) {
    const title = m.current_job ? jobName(m.current_job) : t("jobs.another_job");
    return t("jobs.machine_busy_with", { title });
  }
  if (m.status === "ERROR" || m.status === "MAINTENANCE" || m.status === "OFFLINE") {
    return t("jobs.machine_status", { status: label("machine.", m.status) });
  }
  return null;
}

// ---------------------------------------------------------------- quantities

let reportJob = null; // the job the dialog is about

export function openReport(job) {
  const dialog = $("#complete-dialog");
  const form = $("#complete-form");
  reportJob = { ...job };
  form.reset();
  clearErrors(form);
  form.dataset.draftKey = "job." + job.id;
  restoreDraft(form, "job." + job.id);
  $("#complete-job").textContent = t("jobs.so_far", {
    title: jobName(job), produced: num(job.produced_qty, 3), quantity: num(job.quantity, 3),
    unit: job.unit || "",
  });
  for (const u of form.querySelectorAll("[data-unit]")) u.textContent = `(${job.unit || ""})`;
  $("#short-reason-field").hidden = true;
  openDialog(dialog);
}
export const openComplete = openReport;

function readQuantities(form) {
  const produced = form.elements.produced.value.trim();
  const scrap = form.elements.scrap.value.trim() || "0";
  return { produced: produced === "" ? "0" : produced, scrap };
}

function fieldError(form, name, text) {
  form.querySelector(`[data-error-for="${name}"]`).textContent = text;
  const input = form.elements.namedItem(name);
  if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
}

/** Closing short (below the ordered quantity) needs a reason and a yes. */
function confirmShort(job, total) {
  const dialog = $("#confirm-dialog");
  const quantity = Number(job.quantity) || 0;
  const pct = quantity > 0 ? Math.floor((total / quantity) * 100) : 100;
  $("#confirm-text").textContent = t("jobs.confirm_short", {
    pct: num(pct, 0), produced: num(total, 3), quantity: num(quantity, 3), unit: job.unit || "",
  });
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    openDialog(dialog);
  });
}

async function submitQuantities(mode, form, button) {
  const job = reportJob;
  const values = readQuantities(form);
  clearErrors(form);
  if (mode === "progress" && !(Number(values.produced) > 0)) {
    fieldError(form, "produced", t("jobs.need_produced"));
    return;
  }
  if (Number(values.scrap) > Number(values.produced)) {
    fieldError(form, "scrap", t("jobs.scrap_over"));
    return;
  }
  const body = { ...values };
  if (mode === "complete") {
    const total = Number(job.produced_qty || 0) + Number(values.produced);
    if (total < Number(job.quantity || 0)) {
      const reasonField = $("#short-reason-field");
      const reason = form.elements.short_close_reason.value.trim();
      if (reasonField.hidden || !reason) {
        reasonField.hidden = false;
        fieldError(form, "short_close_reason", t("jobs.need_short_reason"));
        return;
      }
      if (!(await confirmShort(job, total))) return;
      body.reason = reason;
    }
  }
  const qty = `${num(values.produced, 3)} ${job.unit || ""}`.trim();
  const ok = await busy(button, () => act({
    path: jobPath(job, mode), body, scope: { job_id: job.id },
    what: mode === "complete" ? { key: "op.complete", params: { title: jobName(job) } }
      : { key: "op.progress", params: { title: jobName(job), qty } },
  }, {
    form,
    done: t(mode === "complete" ? "jobs.completed" : "jobs.progress_saved", { title: jobName(job) }),
  }));
  if (ok) {
    clearDraft(form.dataset.draftKey);
    $("#complete-dialog").close("saved");
  }
}

// ---------------------------------------------------------------- machines

let machine = null;

export function openDowntime(m) {
  machine = m;
  const form = $("#downtime-form");
  form.reset();
  clearErrors(form);
  form.dataset.draftKey = "downtime." + m.id;
  restoreDraft(form, form.dataset.draftKey);
  $("#downtime-machine").textContent = m.name;
  openDialog($("#downtime-dialog"));
}

export async function endDowntime(m, stop, button) {
  await busy(button, () => act({
    path: `/api/machines/${encodeURIComponent(m.id)}/downtime/end`, scope: { machine_id: m.id },
    what: { key: "op.downtime_end", params: { machine: m.name } },
  }, { done: t("downtime.ended", { machine: m.name }) }));
}

/** The running stop in words: "Parada en curso: Avería, desde hace 5 minutos". */
export function stopText(stop) {
  return t("downtime.running", { reason: label("reason.", stop.reason),
    when: relative(stop.started_at) });
}

export function openStatus(m) {
  machine = m;
  const form = $("#status-form");
  form.reset();
  clearErrors(form);
  form.dataset.draftKey = "status." + m.id;
  restoreDraft(form, form.dataset.draftKey);
  $("#status-machine").textContent = `${m.name} · ${label("machine.", m.status)}`;
  openDialog($("#status-dialog"));
}

async function submitDowntime(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const reason = form.elements.reason.value;
  clearErrors(form);
  if (!reason) {
    form.querySelector('[data-error-for="reason"]').textContent = t("downtime.need_reason");
    form.querySelector("input[name=reason]").focus();
    return;
  }
  const m = machine;
  const body = { reason, planned: form.elements.planned.checked,
    notes: form.elements.notes.value.trim() || null };
  const ok = await busy($("#downtime-submit"), () => act({
    path: `/api/machines/${encodeURIComponent(m.id)}/downtime`, body, scope: { machine_id: m.id },
    what: { key: "op.downtime", params: { machine: m.name } },
  }, { form, done: t("downtime.saved", { machine: m.name, reason: t("reason." + reason) }) }));
  if (ok) { clearDraft(form.dataset.draftKey); $("#downtime-dialog").close("saved"); }
}

async function submitStatus(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const status = form.elements.status.value;
  clearErrors(form);
  if (!status) {
    form.querySelector('[data-error-for="status"]').textContent = t("status.need_status");
    form.querySelector("input[name=status]").focus();
    return;
  }
  const m = machine;
  const body = { status, note: form.elements.note.value.trim() || null };
  const ok = await busy($("#status-submit"), () => act({
    path: `/api/machines/${encodeURIComponent(m.id)}/status`, body, scope: { machine_id: m.id },
    what: { key: "op.status", params: { machine: m.name } },
  }, { form, done: t("status.saved", { machine: m.name, status: t("machine." + status) }) }));
  if (ok) { clearDraft(form.dataset.draftKey); $("#status-dialog").close("saved"); }
}

/** Wire the dialogs once per page. */
export function setupFactoryDialogs() {
  const complete = $("#complete-form");
  if (complete) {
    keepDraft(complete, "job");
    complete.addEventListener("submit", (e) => {
      e.preventDefault();
      const button = e.submitter || $("#complete-progress");
      submitQuantities(button.value || "progress", complete, button);
    });
  }
  const downtime = $("#downtime-form");
  if (downtime) {
    keepDraft(downtime, "downtime");
    // A planned stop is planned: tick the box for them (they can still untick it).
    downtime.addEventListener("change", (e) => {
      if (e.target.name === "reason" && e.target.value === "PLANNED_STOP") {
        downtime.elements.planned.checked = true;
      }
    });
    downtime.addEventListener("submit", submitDowntime);
  }
  const status = $("#status-form");
  if (status) {
    keepDraft(status, "status");
    status.addEventListener("submit", submitStatus);
  }
}
