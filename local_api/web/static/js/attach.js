// Files and photos of a job, a machine stop, a show or a travel leg: one dialog lists
// them (thumbnails, view, download with the original name) and takes new ones from the
// tablet's camera or its files. Photos are made smaller here before they are sent (a
// phone photo of 12 MP becomes ~2048 px on its long side, JPEG 0.85: a few hundred KB
// over the shop's Wi-Fi instead of several MB). An upload is an operation of the queue
// (queue.js): when the site is away it waits on the device, bytes and all, and goes out
// when the site answers again.
// The bytes of a file made at another site may not have reached this one yet: the site
// answers 404 with code "blob_not_here", shown as "not here yet" with a retry.

import { fetchBlob, listAll } from "./api.js";
import { explain } from "./app.js";
import { $, clear, h } from "./dom.js";
import { dateTime, lang, problemText, t } from "./i18n.js";
import { onQueue, pending, perform } from "./queue.js";
import { openDialog, toast } from "./ui.js";

export const MAX_SIDE = 2048;
const QUALITY = 0.85;
const PATH = "/api/attachments";

let owner = null; // {entity, id, title}
let urls = []; // Blob URLs made for the open dialog, revoked when it closes

const keep = (blob) => { const u = URL.createObjectURL(blob); urls.push(u); return u; };
const contentPath = (row) => `${PATH}/${encodeURIComponent(row.id)}/content`;
const isImage = (type) => String(type || "").startsWith("image/");
const isPdf = (type) => type === "application/pdf";

export function sizeText(bytes) {
  const n = Number(bytes) || 0;
  const [unit, value] = n >= 1e6 ? ["megabyte", n / 1e6] : n >= 1e3 ? ["kilobyte", n / 1e3]
    : ["byte", n];
  return new Intl.NumberFormat(lang(), { style: "unit", unit, maximumFractionDigits: 1 })
    .format(value);
}

/** The file to send: photos re-drawn at most MAX_SIDE px long (upright, as the camera
 *  saw them: the bitmap applies the EXIF orientation) and JPEG-encoded, which also drops
 *  the camera's metadata (GPS). A small PNG (a screenshot) and anything that is not a
 *  picture (a PDF drawing) go as they are. Resolves {blob, filename, resized}. */
export async function prepare(file) {
  const type = file.type || "";
  const same = { blob: file, filename: file.name || "file", resized: false };
  if (!isImage(type) || type === "image/gif" || type === "image/svg+xml") return same;
  let bitmap;
  try { bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }); }
  catch { return same; } // a format this browser cannot draw (HEIC): the site decides
  try {
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && type === "image/png") return same;
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // JPEG has no transparency: white, not black, behind it
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
    if (!blob) return same;
    const base = (file.name || "photo").replace(/\.[^.]*$/, "") || "photo";
    return { blob, filename: base + ".jpg", resized: true };
  } finally {
    bitmap.close();
  }
}

// ---------------------------------------------------------------- the list

function notHere(err) {
  return err && err.status === 404 && err.code === "blob_not_here";
}

function notHereBox(retry, { short = false } = {}) {
  const box = h("div", { class: "not-here", "data-state": "not-here" },
    h("p", { text: t(short ? "files.not_here_short" : "files.not_here") }));
  const again = h("button", { type: "button", class: "btn", "data-action": "retry" },
    t("common.retry"));
  again.addEventListener("click", retry);
  box.append(again);
  return box;
}

// ``note`` (beside the name) says "not here yet" with a retry: a thumbnail is too small
// for the words on a phone.
async function thumbInto(slot, row, note) {
  try {
    const blob = await fetchBlob(contentPath(row));
    // Not loading="lazy": the bytes are already here, and a lazy image in a scrolled
    // dialog may stay blank until it is scrolled.
    clear(slot).append(h("img", { src: keep(blob), alt: "", class: "thumb-img" }));
    slot.dataset.state = "loaded";
    clear(note);
  } catch (err) {
    if (notHere(err)) {
      clear(slot).append(h("span", { class: "thumb-kind", "aria-hidden": "true", text: "…" }));
      slot.dataset.state = "not-here";
      clear(note).append(notHereBox(() => thumbInto(slot, row, note), { short: true }));
    } else {
      clear(slot).append(h("span", { class: "thumb-kind", text: t("files.no_preview") }));
      slot.dataset.state = "failed";
    }
  }
}

function kindMark(type) {
  return h("span", { class: "thumb-kind", "aria-hidden": "true",
    text: isPdf(type) ? "PDF" : t("files.file") });
}

function fileRow(row) {
  const name = row.filename;
  const slot = h("div", { class: "thumb", dataset: { state: "kind" } }, kindMark(row.media_type));
  const note = h("div", { class: "file-note" });
  if (isImage(row.media_type)) { slot.dataset.state = "loading"; thumbInto(slot, row, note); }
  const facts = [sizeText(row.size), row.created_at ? dateTime(row.created_at) : ""]
    .filter(Boolean).join(" · ");
  return h("li", { class: "file", dataset: { attachmentId: row.id, sha256: row.sha256 || "" } },
    slot,
    h("div", { class: "file-main" },
      h("p", { class: "file-name", text: name }),
      row.caption ? h("p", { class: "file-caption", text: row.caption }) : null,
      h("p", { class: "muted", text: facts }), note),
    h("div", { class: "actions file-actions" },
      h("button", { type: "button", class: "btn", "data-action": "view",
        "aria-label": t("files.view_named", { name }), onclick: () => view(row) }, t("files.view")),
      h("button", { type: "button", class: "btn", "data-action": "download",
        "aria-label": t("files.download_named", { name }),
        onclick: (e) => download(row, e.currentTarget) }, t("files.download"))));
}

function pendingRow(op) {
  const up = op.upload;
  const slot = h("div", { class: "thumb" });
  if (isImage(up.file.type)) slot.append(h("img", { src: keep(up.file), alt: "", class: "thumb-img" }));
  else slot.append(kindMark(up.file.type));
  return h("li", { class: "file file-pending", dataset: { opId: op.id } },
    slot,
    h("div", { class: "file-main" },
      h("p", { class: "file-name", text: up.filename }),
      up.fields.caption ? h("p", { class: "file-caption", text: up.fields.caption }) : null,
      h("p", {}, h("span", { class: "badge pending-badge", text: t("queue.pending_badge") }),
        " ", h("span", { class: "muted", text: sizeText(up.file.size) }))));
}

const mine = (op) => op.upload && op.scope && owner
  && op.scope.owner_entity === owner.entity && op.scope.owner_id === owner.id;

let loading = null;
async function load() {
  if (!owner) return;
  const list = $("#files-list");
  const which = owner;
  list.setAttribute("aria-busy", "true");
  let rows = [];
  let failed = false;
  try {
    rows = await listAll("attachments", { owner_entity: which.entity, owner_id: which.id });
  } catch (err) {
    failed = true;
    if (err.kind !== "offline") explain(err, { what: t("files.load_failed") });
  }
  const waiting = (await pending()).filter(mine);
  if (owner !== which) return; // another owner was opened meanwhile
  rows.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  clear(list);
  for (const op of waiting) list.append(pendingRow(op));
  for (const row of rows) list.append(fileRow(row));
  $("#files-empty").hidden = rows.length + waiting.length > 0 || failed;
  list.removeAttribute("aria-busy");
  list.dataset.loadedAt = String(Date.now());
}
function reload() { loading = (loading || Promise.resolve()).then(load, load); return loading; }

// ---------------------------------------------------------------- sending

function setProgress(loaded, total) {
  const bar = $("#files-progress");
  bar.hidden = false;
  bar.max = total || 1;
  bar.value = loaded;
  $("#files-state").textContent = t("files.sending", { pct: Math.floor((loaded / (total || 1)) * 100) });
}

async function send(file) {
  const which = owner;
  const caption = $("#files-caption").value.trim();
  const state = $("#files-state");
  state.textContent = t("files.preparing");
  const prepared = await prepare(file);
  const scope = { owner_entity: which.entity, owner_id: which.id };
  if (which.entity === "jobs") scope.job_id = which.id;
  const spec = {
    path: PATH, scope,
    what: { key: "op.attach", params: { name: prepared.filename, title: which.title } },
    upload: { fields: { owner_entity: which.entity, owner_id: which.id, caption },
      file: prepared.blob, filename: prepared.filename },
  };
  let out;
  try {
    out = await perform(spec, { onProgress: setProgress });
  } catch (err) {
    state.textContent = refusal(err);
    toast(state.textContent, "error");
    return;
  } finally {
    $("#files-progress").hidden = true;
  }
  $("#files-caption").value = "";
  if (out.queued) {
    state.textContent = t("files.kept");
    toast(t("queue.queued", { what: t("op.attach", spec.what.params) }), "warn");
  } else {
    state.textContent = t("files.sent", { name: prepared.filename });
    toast(state.textContent);
  }
  await reload();
}

/** Why the site refused a file, in words (its code first, then its status). */
function refusal(err) {
  const coded = err && err.problem ? problemText(err.problem) : null;
  if (coded) return coded;
  if (err && err.status === 413) return t("files.too_large");
  if (err && (err.status === 415 || err.status === 422)) return t("files.refused_type");
  return explain(err);
}

// ---------------------------------------------------------------- viewing

async function blobOf(row) {
  const blob = await fetchBlob(contentPath(row));
  // Typed as stored, so the browser's viewer knows a PDF from a photo.
  return blob.type === row.media_type ? blob : new Blob([blob], { type: row.media_type });
}

async function view(row) {
  const dialog = $("#viewer-dialog");
  const body = clear($("#viewer-body"));
  $("#viewer-title").textContent = row.filename;
  const link = $("#viewer-download");
  link.hidden = true;
  body.append(h("p", { class: "muted", text: t("files.loading") }));
  if (!dialog.open) openDialog(dialog);
  let blob;
  try { blob = await blobOf(row); }
  catch (err) {
    clear(body);
    if (notHere(err)) body.append(notHereBox(() => view(row)));
    else body.append(h("p", { class: "error", text: refusal(err) }));
    return;
  }
  const url = keep(blob);
  clear(body);
  if (isImage(row.media_type)) {
    body.append(h("img", { src: url, class: "viewer-img", alt: row.caption || row.filename }));
  } else if (isPdf(row.media_type)) {
    body.append(h("iframe", { src: url, class: "viewer-pdf", title: row.filename }),
      h("p", {}, h("a", { href: url, target: "_blank", rel: "noopener" }, t("files.open_tab"))));
  } else {
    body.append(h("p", { text: t("files.no_preview") }));
  }
  link.href = url;
  link.download = row.filename;
  link.hidden = false;
}

async function download(row, button) {
  if (button) button.disabled = true;
  try {
    const blob = await blobOf(row);
    const a = h("a", { href: keep(blob), download: row.filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    toast(notHere(err) ? t("files.not_here") : refusal(err), notHere(err) ? "warn" : "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------- the dialog

/** Open the files of {entity, id, title} (jobs, downtimes, machines, shows, travel). */
export function openFiles(which) {
  owner = which;
  $("#files-owner").textContent = which.title || "";
  $("#files-state").textContent = "";
  $("#files-progress").hidden = true;
  const list = clear($("#files-list"));
  delete list.dataset.loadedAt; // set again once this owner's files are shown
  $("#files-empty").hidden = true;
  openDialog($("#files-dialog"));
  reload();
}

/** A button that opens the files of ``which`` (on a card, a leg, a show). */
export function filesButton(which, { cls = "btn" } = {}) {
  return h("button", { type: "button", class: cls, "data-action": "files",
    onclick: () => openFiles(which) }, t("files.open"));
}

/** Wire the dialogs once per page. */
export function setupFiles() {
  const dialog = $("#files-dialog");
  if (!dialog) return;
  for (const input of [$("#files-photo"), $("#files-file")]) {
    input.addEventListener("change", () => {
      const file = input.files && input.files[0];
      input.value = ""; // the same photo may be picked again
      if (file && owner) send(file);
    });
  }
  const release = () => {
    if ($("#viewer-dialog").open || dialog.open) return;
    for (const u of urls) URL.revokeObjectURL(u);
    urls = [];
  };
  dialog.addEventListener("close", () => { owner = null; release(); });
  $("#viewer-dialog").addEventListener("close", release);
  // Sent from the queue (the site came back): the list shows it stored.
  onQueue((event) => { if (event.type !== "changed" && owner && mine(event.op)) reload(); });
}
