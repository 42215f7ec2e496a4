// Shop-floor actions shared by the board and the operator's queue: start, pause,
// report/complete with quantities, downtime, machine status. Every action ends in a
// visible result: a toast, field errors in the still-filled form, or the conflict
// chooser.

import { api, ApiError } from "./api.js";
import { explain } from "./app.js";
import { $ } from "./dom.js";
import { num, t } from "./i18n.js";
import {
  busy, chooseConflict, clearDraft, clearErrors, keepDraft, openDialog, restoreDraft, toast,
} from "./ui.js";

let onSaved = () => {};

/** Called after any successful action (the page reloads what it shows). */
export function afterSave(fn) { onSaved = fn; }

export async function startJob(job, button) {
  await busy(button, async () => {
    try {
      await api(`/api/jobs/${encodeURIComponent(job.id)}/start`, { method: "POST" });
      toast(t("jobs.started", { title: job.title }));
      onSaved();
    } catch (err) { explain(err); if (err.status === 409) onSaved(); }
  });
}

export async function pauseJob(job, button) {
  await busy(button, async () => {
    try {
      await api(`/api/jobs/${encodeURIComponent(job.id)}/pause`, { method: "POST" });
      toast(t("jobs.paused", { title: job.title }));
      onSaved();
    } catch (err) { explain(err); if (err.status === 409) onSaved(); }
  });
}

// ---------------------------------------------------------------- quantities

let completeJob = null; // the job (with the version we saw) the dialog is about

export function openComplete(job) {
  const dialog = $("#complete-dialog");
  const form = $("#complete-form");
  completeJob = { ...job };
  form.reset();
  clearErrors(form);
  form.dataset.draftKey = "job." + job.id;
  restoreDraft(form, "job." + job.id);
  $("#complete-job").textContent = t("jobs.so_far", {
    title: job.title, produced: num(job.produced_qty, 3), quantity: num(job.quantity, 3),
    unit: job.unit || "",
  });
  for (const u of form.querySelectorAll("[data-unit]")) u.textContent = `(${job.unit || ""})`;
  openDialog(dialog);
}

function readQuantities(form) {
  const produced = form.elements.produced.value.trim();
  const scrap = form.elements.scrap.value.trim() || "0";
  return { produced: produced === "" ? "0" : produced, scrap };
}

async function submitQuantities(mode, form, button) {
  const job = completeJob;
  const values = readQuantities(form);
  clearErrors(form);
  if (mode === "progress" && Number(values.produced) <= 0) {
    form.querySelector('[data-error-for="produced"]').textContent = t("jobs.need_produced");
    form.elements.produced.focus();
    return;
  }
  if (Number(values.scrap) > Number(values.produced)) {
    form.querySelector('[data-error-for="scrap"]').textContent = t("jobs.scrap_over");
    form.elements.scrap.focus();
    return;
  }
  const path = `/api/jobs/${encodeURIComponent(job.id)}/${mode}`;
  await busy(button, async () => {
    try {
      await api(path, { method: "POST", body: { ...values, version: job.version } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.current) {
        await resolveQuantityConflict(mode, form, job, values, err.current, button);
        return;
      }
      explain(err, { form });
      return;
    }
    clearDraft(form.dataset.draftKey);
    $("#complete-dialog").close("saved");
    toast(t(mode === "complete" ? "jobs.completed" : "jobs.progress_saved", { title: job.title }));
    onSaved();
  });
}

async function resolveQuantityConflict(mode, form, job, values, current, button) {
  // Quantities are increments on top of what the job had: show what the others did to
  // it since we looked, and what ours would make of it.
  const unit = current.unit || job.unit || "";
  const theirsTotal = Number(current.produced_qty);
  const rows = [
    { label: t("jobs.status"), theirs: t("job." + current.status), mine: t("job." + job.status) },
    { label: t("jobs.produced_total"), theirs: `${num(theirsTotal, 3)} ${unit}`,
      mine: `${num(Number(job.produced_qty) + Number(values.produced), 3)} ${unit}` },
    { label: t("jobs.scrap_total"), theirs: `${num(current.scrap_qty, 3)} ${unit}`,
      mine: `${num(Number(job.scrap_qty) + Number(values.scrap), 3)} ${unit}` },
  ];
  const choice = await chooseConflict(rows);
  if (choice === "mine") {
    // Ours goes on top of theirs now: same increments, their version.
    completeJob = { ...job, ...current };
    await submitQuantities(mode, form, button);
  } else {
    clearDraft(form.dataset.draftKey);
    $("#complete-dialog").close("theirs");
    toast(t("conflict.took_theirs"));
    onSaved();
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

export function openStatus(m) {
  machine = m;
  const form = $("#status-form");
  form.reset();
  clearErrors(form);
  form.dataset.draftKey = "status." + m.id;
  restoreDraft(form, form.dataset.draftKey);
  $("#status-machine").textContent = `${m.name} · ${t("machine." + m.status)}`;
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
  const body = { reason, planned: form.elements.planned.checked,
    notes: form.elements.notes.value.trim() || null };
  await busy($("#downtime-submit"), async () => {
    try {
      await api(`/api/machines/${encodeURIComponent(machine.id)}/downtime`,
        { method: "POST", body });
    } catch (err) { explain(err, { form }); return; }
    clearDraft(form.dataset.draftKey);
    $("#downtime-dialog").close("saved");
    toast(t("downtime.saved", { machine: machine.name, reason: t("reason." + reason) }));
    onSaved();
  });
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
  const body = { status, note: form.elements.note.value.trim() || null };
  await busy($("#status-submit"), async () => {
    try {
      await api(`/api/machines/${encodeURIComponent(machine.id)}/status`,
        { method: "POST", body });
    } catch (err) { explain(err, { form }); return; }
    clearDraft(form.dataset.draftKey);
    $("#status-dialog").close("saved");
    toast(t("status.saved", { machine: machine.name, status: t("machine." + status) }));
    onSaved();
  });
}

/** Wire the dialogs once per page. */
export function setupFactoryDialogs() {
  const complete = $("#complete-form");
  if (complete) {
    keepDraft(complete, "job");
    complete.addEventListener("submit", (e) => {
      e.preventDefault();
      const button = e.submitter || $("#complete-submit");
      submitQuantities(button.value || "complete", complete, button);
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
