// PIN login: pick yourself from the list, type the PIN on the keypad (or keyboard).

import { api, ApiError, pairDevice, saveTokens, session } from "../api.js";
import { boot, setLanguage } from "../app.js";
import { h, clear, $ } from "../dom.js";
import { t } from "../i18n.js";
import { toast } from "../ui.js";

const KEYPAD_IDLE_MS = 30000; // a half-typed PIN on a shared tablet goes back to the list

const params = new URLSearchParams(location.search);
const next = safeNext(params.get("next"));
let chosen = null;
let keypadTimer = null;

function safeNext(value) {
  // Only our own pages: never bounce a login to another site.
  return value && /^\/app\/[A-Za-z0-9/_?=&.%-]*$/.test(value) && !value.startsWith("/app/login")
    ? value : "/app/";
}

function notice(text) {
  const p = $("#login-notice");
  p.textContent = text;
  p.hidden = !text;
}

function showList() {
  chosen = null;
  clearTimeout(keypadTimer);
  $("#pin-input").value = "";
  $("#pin-error").textContent = "";
  $("#enter-pin").hidden = true;
  $("#pick-user").hidden = false;
  const first = $("#user-list button");
  if (first) first.focus();
}

function showKeypad(user) {
  chosen = user;
  $("#pin-title").textContent = t("auth.hello", { name: user.name });
  $("#pick-user").hidden = true;
  $("#enter-pin").hidden = false;
  $("#pin-input").value = "";
  $("#pin-error").textContent = "";
  $("#pin-input").focus();
  touchKeypad();
}

function touchKeypad() {
  clearTimeout(keypadTimer);
  keypadTimer = setTimeout(showList, KEYPAD_IDLE_MS);
}

// The pairing QR code on the office screen carries a one-time code in the fragment
// (never sent to the server by the browser): exchange it once for this device's key.
async function pairFromLink() {
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (!code) return;
  history.replaceState(null, "", location.pathname + location.search);
  try {
    await pairDevice(code);
  } catch (err) {
    console.warn("pairing failed", err);
  }
}

async function loadUsers() {
  await pairFromLink();
  const list = $("#user-list");
  let users;
  try {
    users = await api("/api/auth/pin-users", { auth: false });
  } catch (err) {
    list.removeAttribute("aria-busy");
    const msg = err instanceof ApiError && err.kind === "offline"
      ? t("error.offline") : t("auth.users_failed");
    list.append(h("p", { class: "error", role: "alert", text: msg }),
      h("button", { type: "button", class: "btn", onclick: () => location.reload() },
        t("common.retry")));
    return;
  }
  clear(list).removeAttribute("aria-busy");
  $("#users-empty").hidden = users.length > 0;
  for (const user of users) {
    list.append(h("button", {
      type: "button", class: "user-btn", dataset: { userId: user.id },
      onclick: () => showKeypad(user),
    }, h("span", { class: "user-initial", "aria-hidden": "true",
      text: (user.name || "?").trim().charAt(0).toUpperCase() }),
    h("span", { class: "user-name", text: user.name }),
    h("span", { class: "user-role", text: t("role." + user.role) })));
  }
}

function lockMessage(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 30));
  return s >= 90 ? t("auth.locked_minutes", { minutes: Math.ceil(s / 60) })
    : t("auth.locked_seconds", { seconds: s });
}

async function submitPin(event) {
  event.preventDefault();
  if (!chosen) return;
  const input = $("#pin-input");
  const error = $("#pin-error");
  const pin = input.value.trim();
  if (!/^[0-9]{4,12}$/.test(pin)) {
    error.textContent = t("auth.pin_format");
    input.focus();
    return;
  }
  const button = $("#pin-submit");
  button.disabled = true;
  try {
    const out = await api("/api/auth/pin", {
      method: "POST", body: { user_id: chosen.id, pin }, auth: false,
    });
    saveTokens(out);
    // Whatever the last person's pages read stays theirs.
    if (window.caches) await caches.delete("structura-data").catch(() => null);
    setLanguage((out.user && out.user.language) || chosen.language);
    location.assign(next);
  } catch (err) {
    input.value = "";
    input.focus();
    if (!(err instanceof ApiError)) throw err;
    if (err.kind === "offline") error.textContent = t("error.offline");
    else if (err.status === 401) error.textContent = t("auth.wrong_pin");
    else if (err.status === 429 || err.status === 423) error.textContent = lockMessage(err.retryAfter);
    else if (err.status === 422) error.textContent = t("auth.pin_format");
    else error.textContent = t("error.server", { id: err.problem.request_id || "–" });
    toast(error.textContent, "error");
  } finally {
    button.disabled = false;
  }
}

async function submitPassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("#password-error");
  const email = form.elements.email.value.trim();
  const password = form.elements.password.value;
  error.textContent = "";
  if (!email || !password) { error.textContent = t("auth.need_email_password"); return; }
  const button = $("#password-submit");
  button.disabled = true;
  try {
    const out = await api("/api/auth/login", { method: "POST", body: { email, password }, auth: false });
    saveTokens(out);
    if (window.caches) await caches.delete("structura-data").catch(() => null);
    if (out.user && out.user.language) setLanguage(out.user.language);
    location.assign(params.get("next") ? next : "/app/board");
  } catch (err) {
    form.elements.password.value = "";
    if (!(err instanceof ApiError)) throw err;
    if (err.kind === "offline") error.textContent = t("error.offline");
    else if (err.status === 401) error.textContent = t("auth.wrong_password");
    else if (err.status === 429 || err.status === 423) error.textContent = lockMessage(err.retryAfter);
    else error.textContent = t("error.invalid");
  } finally {
    button.disabled = false;
  }
}

function press(digit) {
  const input = $("#pin-input");
  if (input.value.length < 12) input.value += digit;
  $("#pin-error").textContent = "";
  touchKeypad();
}

function setupKeypad() {
  $("#pin-form").addEventListener("submit", submitPin);
  $("#pin-cancel").addEventListener("click", showList);
  $("#pin-input").addEventListener("input", (e) => {
    e.target.value = e.target.value.replace(/[^0-9]/g, "").slice(0, 12);
    touchKeypad();
  });
  for (const key of document.querySelectorAll(".keypad .key")) {
    key.addEventListener("click", () => {
      const input = $("#pin-input");
      if (key.dataset.digit) press(key.dataset.digit);
      else if (key.dataset.action === "back") input.value = input.value.slice(0, -1);
      else if (key.dataset.action === "clear") input.value = "";
      touchKeypad();
    });
  }
  // Digits typed anywhere on the keypad screen go to the PIN (a hardware keyboard on
  // a terminal), unless the focus is already in the input.
  document.addEventListener("keydown", (e) => {
    if ($("#enter-pin").hidden || e.target === $("#pin-input")) return;
    if (/^[0-9]$/.test(e.key)) { press(e.key); e.preventDefault(); }
    else if (e.key === "Backspace") { const i = $("#pin-input"); i.value = i.value.slice(0, -1); }
    else if (e.key === "Escape") showList();
  });
}

async function main() {
  await boot({ needLogin: false });
  const reason = params.get("reason");
  if (reason === "expired") notice(t("auth.expired_notice"));
  else if (reason === "idle") notice(t("auth.idle_notice"));
  else if (reason === "logout") notice(t("auth.logged_out"));
  if (session() && !reason) { location.assign(next); return; }
  setupKeypad();
  $("#password-form").addEventListener("submit", submitPassword);
  await loadUsers();
}

main();
