// What every page does first: language switch, offline banner, the login check, the
// menu for the user's role, logout, the idle timeout, and one way to explain errors.

import { api, ApiError, dropTokens, on, session } from "./api.js";
import { problemText, t } from "./i18n.js";
import { $, $$ } from "./dom.js";
import { clearAllDrafts, setOffline, showErrors, toast } from "./ui.js";
import { onQueue, pending, perform, startQueue } from "./queue.js";

export const LANG_COOKIE = "structura_lang";

export function setLanguage(lang) {
  if (lang !== "es" && lang !== "en") return;
  document.cookie = `${LANG_COOKIE}=${lang}; path=/; max-age=31536000; SameSite=Strict`;
}

function currentPath() { return location.pathname + location.search; }

export function goLogin(reason) {
  const q = new URLSearchParams();
  if (reason) q.set("reason", reason);
  const here = currentPath();
  if (!here.startsWith("/app/login")) q.set("next", here);
  location.assign("/app/login?" + q);
}

/** Drop the login (tokens, and the drafts: the next person on a shared tablet must not
 *  see what the last one typed) and tell the server, without waiting on it. */
export async function logout(reason) {
  const refresh = sessionStorage.getItem("structura.refresh");
  const token = sessionStorage.getItem("structura.access");
  // An idle logout keeps the user's drafts (theirs alone, see ui.js); logging out on
  // purpose drops them. The kept API reads go either way: the next person must not see
  // this one's data, not even offline.
  if (reason !== "idle") clearAllDrafts();
  forgetData();
  dropTokens();
  if (token) {
    try {
      await fetch("/api/auth/logout", {
        method: "POST", credentials: "omit", keepalive: true,
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
        body: JSON.stringify(refresh ? { refresh_token: refresh } : {}),
      });
    } catch { /* offline: the tokens are gone from this tab anyway */ }
  }
  location.assign("/app/login" + (reason ? "?reason=" + reason : ""));
}

/** Drop the API reads the service worker kept (at every login and logout). */
export function forgetData() {
  if (window.caches) caches.delete("structura-data").catch(() => null);
}

// The files this page was drawn with (its script bundle, stylesheets): the worker keeps
// them with the page, as it keeps the scripts of every page visited while it runs.
function pageFiles() {
  return Array.from(document.querySelectorAll(
    'script[src^="/app/static/"], link[rel="stylesheet"], link[rel="modulepreload"]'),
  (el) => el.getAttribute("src") || el.getAttribute("href"));
}

function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).then(async () => {
    const reg = await navigator.serviceWorker.ready;
    // This page was loaded before the worker ran: ask it to keep this page too.
    if (reg.active) {
      reg.active.postMessage({ type: "keep-page", path: location.pathname, files: pageFiles() });
    }
  }).catch((err) => console.warn("service worker not registered", err));
}

/** Say the page's first data is on screen (see registerWhenDrawn). */
export function drawn() {
  document.dispatchEvent(new CustomEvent("structura:drawn"));
}

// A first visit installs the worker, which downloads the shell's files: on a slow link
// that must not queue behind (or ahead of) the page's own first reads, so it waits for
// the page to say it is drawn, or a few seconds for pages that do not say.
function registerWhenDrawn() {
  let done = false;
  const go = () => {
    if (done) return;
    done = true;
    registerWorker();
  };
  document.addEventListener("structura:drawn", go, { once: true });
  setTimeout(go, 3000);
}

function idleSeconds() {
  // A test (or a kiosk set-up) may shorten it for this tab.
  const override = Number(sessionStorage.getItem("structura.idleSeconds"));
  return override > 0 ? override : Number(document.body.dataset.idle || 120);
}

function startIdleTimer() {
  let timer = null;
  const reset = () => {
    clearTimeout(timer);
    timer = setTimeout(() => logout("idle"), idleSeconds() * 1000);
  };
  for (const ev of ["pointerdown", "keydown", "touchstart", "wheel", "input"]) {
    document.addEventListener(ev, reset, { passive: true, capture: true });
  }
  reset();
}

function setupLanguageSwitch() {
  const button = $("#lang-switch");
  if (!button) return;
  button.addEventListener("click", async () => {
    const lang = button.dataset.lang;
    setLanguage(lang);
    // Logged in: keep the choice with the user, so every tablet they use follows it.
    if (session()) {
      try { await api("/api/auth/me", { method: "PATCH", body: { language: lang } }); }
      catch (err) { /* the cookie still applies on this tablet */ }
    }
    location.reload();
  });
}

function setupOffline() {
  if (!navigator.onLine) setOffline(true);
  window.addEventListener("offline", () => setOffline(true));
  on("offline", () => setOffline(true));
  on("stale", (at) => setOffline(true, at));
  on("online", () => setOffline(false));
}

async function showPending() {
  const badge = $("#pending");
  if (!badge) return;
  const ops = await pending();
  badge.hidden = ops.length === 0;
  badge.textContent = t("queue.pending", { count: ops.length });
  document.dispatchEvent(new CustomEvent("structura:pending", { detail: ops }));
}

function setupQueue() {
  onQueue((event) => {
    if (event.type === "sent") toast(t("queue.sent", { what: opText(event.op) }));
    if (event.type === "refused") {
      explain(event.error, { what: t("queue.refused", { what: opText(event.op), why: "" }).trim() });
    }
    showPending();
    if (event.type !== "changed") document.dispatchEvent(new CustomEvent("structura:saved"));
  });
  showPending();
  startQueue();
}

/** An operation in words ("producción de Perfil C 150 (+5 m)"). */
export function opText(op) {
  return op.what ? t(op.what.key, op.what.params || {}) : op.path;
}

function showUser(user) {
  const who = $("#who");
  if (!who) return;
  $("#who-name").textContent = `${user.name} · ${t("role." + user.role)}`;
  who.hidden = false;
  $("#logout").addEventListener("click", () => logout());
  for (const link of $$("#nav a[data-roles]")) {
    link.hidden = !link.dataset.roles.split(" ").includes(user.role);
  }
}

/** Run a floor action through the queue: toast when sent, "kept" when the site is away,
 *  explained when refused. Resolves true when it is sent or kept (the form may close). */
export async function act(spec, { form = null, done = "", drafted = false } = {}) {
  let out;
  // ``drafted``: the form's contents are kept as a draft (keepDraft) and come back after
  // a new login, so an action refused for an expired login is not queued as well.
  try { out = await perform(spec, { keepIfExpired: !drafted }); }
  catch (err) { explain(err, { form }); return false; }
  if (out.queued) toast(t("queue.queued", { what: opText(out.op) }), "warn");
  else if (done) toast(done);
  document.dispatchEvent(new CustomEvent("structura:saved"));
  return true;
}

/** Explain a failed action. ``form`` (optional) gets the field errors and keeps its
 *  contents; the caller decides about conflicts before calling this. */
export function explain(error, { form = null, what = "" } = {}) {
  let message;
  if (!(error instanceof ApiError)) {
    console.error(error);
    message = t("error.unexpected");
  } else if (error.kind === "offline") {
    message = t("error.offline");
  } else if (error.kind === "expired") {
    message = t("error.expired");
  } else if (problemText(error.problem)) {
    // A coded refusal (a machine busy with another job, a job already completed): its
    // own words and parameters, in this page's language.
    message = problemText(error.problem);
  } else if (error.status === 409) {
    // With the stored row: someone got there first. Without: a rule said no.
    message = t(error.current ? "error.conflict" : "error.not_now");
  } else if (error.status === 403) {
    message = t("error.forbidden");
  } else if (error.status === 404) {
    message = t("error.not_found");
  } else if (error.status === 422 || error.status === 400) {
    message = t("error.invalid");
  } else if (error.status === 429 || error.status === 423) {
    message = t("error.rate_limited", { seconds: Math.ceil(error.retryAfter || 30) });
  } else if (error.status === 413) {
    message = t("error.too_large");
  } else {
    message = t("error.server", { id: error.problem.request_id || "–" });
  }
  if (what) message = `${what}: ${message}`;
  if (form) {
    showErrors(form, error, message);
    form.classList.add("has-error");
  }
  toast(message, "error");
  return message;
}

/** Boot a page. Pages that need a login get the user back (or are sent to login). */
export async function boot({ needLogin = true } = {}) {
  setupLanguageSwitch();
  setupOffline();
  if (!needLogin) { registerWorker(); return null; }
  const user = session();
  if (!user) {
    goLogin();
    return new Promise(() => {}); // navigating away; nothing else runs
  }
  showUser(user);
  registerWhenDrawn();
  setupQueue();
  startIdleTimer();
  on("expired", () => {
    toast(t("error.expired"), "error");
    // Let the toast be read, then log in again; drafts stay in sessionStorage.
    setTimeout(() => goLogin("expired"), 1200);
  });
  return user;
}

export { api };
