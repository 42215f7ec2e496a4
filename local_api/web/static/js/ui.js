// Feedback the user can always see: toasts (announced by an aria-live region), the
// offline banner, field errors, dialogs, the conflict chooser, and drafts that keep
// whatever was typed in sessionStorage until it is saved.

import { fieldText, t } from "./i18n.js";
import { h, clear, $, $$ } from "./dom.js";
import { session } from "./api.js";

export function toast(message, kind = "ok", { timeout = 5000 } = {}) {
  const urgent = kind === "error" || kind === "warn";
  const region = document.getElementById(urgent ? "alerts-live" : "toasts");
  if (!region) return;
  const item = h("div", { class: `toast toast-${kind}` },
    h("span", { class: "toast-text", text: message }),
    h("button", { type: "button", class: "toast-close", "aria-label": t("common.close"),
      onclick: () => item.remove() }, "×"));
  region.append(item);
  // Errors stay until dismissed or replaced: a failure must never flash by unseen.
  if (!urgent) setTimeout(() => item.remove(), timeout);
  else setTimeout(() => item.remove(), timeout * 3);
  return item;
}

// ---------------------------------------------------------------- offline banner

const SINCE = "structura.offlineSince";

function clock(iso) {
  return new Intl.DateTimeFormat(document.documentElement.lang || "es",
    { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

/** Offline (or back): the banner says since when the server is away and, when the page
 *  shows kept data, how old it is. ``dataAt`` is when the oldest shown data was read. */
export function setOffline(offline, dataAt = null) {
  const banner = document.getElementById("offline");
  document.body.classList.toggle("is-offline", offline);
  if (!offline) {
    sessionStorage.removeItem(SINCE);
    if (banner) { banner.hidden = true; delete banner.dataset.dataAt; }
    return;
  }
  let since = sessionStorage.getItem(SINCE);
  if (!since) { since = new Date().toISOString(); sessionStorage.setItem(SINCE, since); }
  if (!banner) return;
  if (dataAt && (!banner.dataset.dataAt || dataAt < banner.dataset.dataAt)) {
    banner.dataset.dataAt = dataAt;
  }
  const at = banner.dataset.dataAt;
  banner.textContent = at ? t("offline.banner", { since: clock(since), at: clock(at) })
    : t("offline.banner_nodata", { since: clock(since) });
  banner.hidden = false;
}

// ---------------------------------------------------------------- busy buttons

/** Disable a button while work runs (no double taps), whatever the outcome. */
export async function busy(button, work) {
  if (button) { button.disabled = true; button.setAttribute("aria-busy", "true"); }
  try { return await work(); }
  finally { if (button) { button.disabled = false; button.removeAttribute("aria-busy"); } }
}

// ---------------------------------------------------------------- field errors

export function clearErrors(form) {
  for (const p of $$("[data-error-for]", form)) p.textContent = "";
  for (const el of $$("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
}

/** Put the API's per-field messages next to the fields; the rest in the form's slot. */
export function showErrors(form, error, fallback) {
  clearErrors(form);
  let placed = false;
  for (const e of error.fieldErrors || []) {
    const name = String(e.field || "").split(".").pop();
    const slot = form.querySelector(`[data-error-for="${CSS.escape(name)}"]`);
    const input = form.elements.namedItem(name);
    if (slot) { slot.textContent = fieldText(e); placed = true; }
    if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
  }
  const general = form.querySelector('[data-error-for="_form"]');
  if (general) general.textContent = placed ? t("error.check_fields") : fallback;
}

// ---------------------------------------------------------------- drafts

// Drafts are kept per user: after an idle logout the same person finds them again, the
// next person on a shared tablet never sees them.
const BASE = "structura.draft.";
function prefix(user = session()) { return BASE + (user ? user.id : "-") + "."; }

function formValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "submit" || el.type === "button" || el.type === "password") continue;
    if (el.type === "checkbox") values[el.name] = el.checked;
    else if (el.type === "radio") { if (el.checked) values[el.name] = el.value; }
    else values[el.name] = el.value;
  }
  return values;
}

export function saveDraft(form, key) {
  const values = formValues(form);
  const empty = Object.values(values).every((v) => v === "" || v === false);
  if (empty) sessionStorage.removeItem(prefix() + key);
  else sessionStorage.setItem(prefix() + key, JSON.stringify(values));
}

/** Keep the form's contents in sessionStorage as it is typed (survives a reload, a
 *  re-login after the session expired, a dialog closed by mistake). */
export function keepDraft(form, key) {
  form.dataset.draftKey = key;
  const handler = () => saveDraft(form, form.dataset.draftKey);
  form.addEventListener("input", handler);
  form.addEventListener("change", handler);
}

export function restoreDraft(form, key) {
  const raw = sessionStorage.getItem(prefix() + key);
  if (!raw) return false;
  let values;
  try { values = JSON.parse(raw); } catch { return false; }
  for (const el of form.elements) {
    if (!el.name || !(el.name in values)) continue;
    if (el.type === "checkbox") el.checked = Boolean(values[el.name]);
    else if (el.type === "radio") el.checked = el.value === values[el.name];
    else el.value = values[el.name];
  }
  return true;
}

export function hasDraft(key) { return sessionStorage.getItem(prefix() + key) !== null; }
export function clearDraft(key) { sessionStorage.removeItem(prefix() + key); }

/** Forget what this user typed (they logged out on purpose). */
export function clearAllDrafts(user = session()) {
  const mine = prefix(user);
  for (let i = sessionStorage.length - 1; i >= 0; i--) {
    const k = sessionStorage.key(i);
    if (k && k.startsWith(mine)) sessionStorage.removeItem(k);
  }
}

// ---------------------------------------------------------------- dialogs

export function openDialog(dialog) {
  for (const btn of $$("[data-close]", dialog)) {
    btn.onclick = () => dialog.close("cancel");
  }
  if (!dialog.open) dialog.showModal();
  const first = dialog.querySelector("input:not([type=hidden]), select, textarea, button");
  if (first) first.focus();
}

/** Someone else changed what we were saving. Show theirs next to ours; resolves to
 *  "theirs" (take their version) or "mine" (save ours over it). */
export function chooseConflict(rows) {
  const dialog = $("#conflict-dialog");
  const body = clear($("#conflict-rows"));
  for (const row of rows) {
    body.append(h("tr", {},
      h("th", { scope: "row", text: row.label }),
      h("td", { class: "theirs", text: row.theirs }),
      h("td", { class: "mine", text: row.mine })));
  }
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue || "theirs"),
      { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    $("#conflict-mine").focus();
  });
}
