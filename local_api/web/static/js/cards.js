// Pieces of the factory cards, shared by the board and the queue.

import { h, safeColor } from "./dom.js";
import { num, t } from "./i18n.js";

export function statusBadge(status) {
  return h("span", { class: `badge status-${String(status || "").toLowerCase()}`,
    text: t("machine." + status) });
}

/** How people name a job: its document number (VLC-OT-0042) and title. */
export function jobName(job) {
  const number = job.doc_number || job.number;
  return number ? `${number} · ${job.title}` : job.title;
}

export function jobBadge(status) {
  return h("span", { class: `badge job-${String(status || "").toLowerCase()}`,
    text: t("job." + status) });
}

/** A labelled progress bar: the numbers are in text too, never only in the bar. */
export function progressBar(job) {
  const pct = Math.max(0, Math.min(100, Number(job.progress) || 0));
  const label = t("jobs.progress_of", {
    produced: num(job.produced_qty, 1), quantity: num(job.quantity, 1), unit: job.unit || "",
    pct: num(pct, 0),
  });
  const fill = h("span", { class: "bar-fill" });
  fill.style.width = pct + "%"; // CSSOM, which the CSP allows (no style attribute)
  return h("div", { class: "progress" },
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(Math.round(pct)), "aria-label": label }, fill),
    h("p", { class: "progress-text", text: label }));
}

export function applyMachineColor(node, color) {
  const c = safeColor(color);
  if (c) node.style.setProperty("--machine", c);
}
