// The one way pages talk to the API: bearer token from sessionStorage, one refresh on a
// 401 (the refresh token rotates, so concurrent 401s share one refresh), and errors as
// ApiError objects the UI can explain. Tokens live in sessionStorage so they die with
// the tab and are never sent automatically (no cookies, no CSRF surface).

const KEY = { access: "structura.access", refresh: "structura.refresh", user: "structura.user" };
const DEVICE = "structura.device";

export class ApiError extends Error {
  // kind: offline | expired | http
  constructor(kind, { status = 0, problem = null, message = "" } = {}) {
    super(message || (problem && (problem.detail || problem.title)) || kind);
    this.kind = kind;
    this.status = status;
    this.problem = problem || {};
  }
  get code() { return this.problem.code || ""; }
  get current() { return this.problem.current || null; }
  get fieldErrors() { return this.problem.errors || []; }
  get retryAfter() { return this.problem.retry_after ?? null; }
}

export function session() {
  const raw = sessionStorage.getItem(KEY.user);
  if (!sessionStorage.getItem(KEY.access) || !raw) return null;
  try { return JSON.parse(raw); } catch { return null; }
}

export function accessToken() { return sessionStorage.getItem(KEY.access); }

export function saveTokens(out) {
  sessionStorage.setItem(KEY.access, out.access_token);
  sessionStorage.setItem(KEY.refresh, out.refresh_token);
  if (out.user) sessionStorage.setItem(KEY.user, JSON.stringify(out.user));
}

export function dropTokens() {
  for (const k of Object.values(KEY)) sessionStorage.removeItem(k);
}

// A stable id for this browser, so PIN lockouts and rate limits apply per device and a
// wrong PIN typed on one tablet does not lock the user out of the others.
export function deviceId() {
  let id = localStorage.getItem(DEVICE);
  if (!id || !/^[A-Za-z0-9._:-]{8,64}$/.test(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(DEVICE, id);
  }
  return id;
}

// A paired browser (POST /api/devices/pair with the office's one-time code) proves its
// key at every login, so guesses made elsewhere never lock it out.
const DEVICE_KEY = DEVICE + ".key";
export function deviceKey() { return localStorage.getItem(DEVICE_KEY); }
export async function pairDevice(code) {
  const res = await send("/api/devices/pair", { method: "POST", body: { code }, auth: false });
  const out = await res.json();
  if (!res.ok) throw new ApiError("http", { status: res.status, problem: out });
  localStorage.setItem(DEVICE, out.device_id);
  localStorage.setItem(DEVICE_KEY, out.device_key);
  return out;
}

// Listeners for cross-cutting states (offline banner, session expired).
const listeners = { offline: [], online: [], expired: [], stale: [] };
export function on(event, fn) { listeners[event].push(fn); }
function emit(event, arg) { for (const fn of listeners[event]) fn(arg); }

// The reads the shell started before this script arrived (early.js), each taken once by
// the first call for its path with the same login; false from here on, so that an
// early.js arriving after this script starts nothing.
const earlyReads = window.structuraEarly || null;
window.structuraEarly = false;

function early(path, method, token) {
  const read = method === "GET" && token && earlyReads ? earlyReads.get(path) : null;
  if (!read) return null;
  earlyReads.delete(path);
  return read.token === token && Date.now() - read.at < 10000 ? read.response : null;
}

async function send(path, { method = "GET", body, headers = {}, auth = true } = {}) {
  const h = { Accept: "application/json", "X-Device-Id": deviceId(), ...headers };
  const key = deviceKey();
  if (key) h["X-Device-Key"] = key;
  if (body !== undefined) h["Content-Type"] = "application/json";
  const token = accessToken();
  if (auth && token) h.Authorization = "Bearer " + token;
  const ask = () => fetch(path, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-cache", credentials: "omit", // revalidate (ETag -> 304), never blindly reuse
  });
  const started = Object.keys(headers).length === 0 && auth ? early(path, method, token) : null;
  let res;
  try {
    res = await (started ? started.catch(ask) : ask());
  } catch (err) {
    // fetch only rejects when the request never got an answer: no network or server.
    emit("offline");
    throw new ApiError("offline", { message: String(err) });
  }
  // An answer the service worker kept from before: the server is away, the data old.
  const stale = res.headers.get("x-structura-stale");
  if (stale) emit("stale", stale);
  else emit("online");
  return res;
}

async function parse(res) {
  if (res.status === 204) return null;
  const type = res.headers.get("content-type") || "";
  if (type.includes("json")) {
    try { return await res.json(); } catch { return null; }
  }
  return await res.text();
}

let refreshing = null;

// Exchange the refresh token once; every caller waiting on a 401 shares the result.
function refresh() {
  if (!refreshing) {
    refreshing = (async () => {
      const token = sessionStorage.getItem(KEY.refresh);
      if (!token) return false;
      const res = await send("/api/auth/refresh", {
        method: "POST", body: { refresh_token: token }, auth: false,
      });
      if (!res.ok) return false;
      saveTokens(await res.json());
      return true;
    })().finally(() => { setTimeout(() => { refreshing = null; }, 0); });
  }
  return refreshing;
}

export async function refreshNow() {
  try { return await refresh(); } catch { return false; }
}

/** Call the API. Resolves with the parsed body; rejects with an ApiError. */
export async function api(path, { method = "GET", body, version, auth = true, opId,
  headers: extra = {} } = {}) {
  const headers = { ...extra };
  // The operation's own id: the site answers a repeat with the first answer.
  if (opId) headers["Idempotency-Key"] = opId;
  if (version !== undefined && version !== null) headers["If-Match"] = String(version);
  let res = await send(path, { method, body, headers, auth });
  if (res.status === 401 && auth) {
    let ok = false;
    try { ok = await refresh(); } catch (err) { if (err instanceof ApiError) throw err; }
    if (!ok) {
      dropTokens();
      const error = new ApiError("expired", { status: 401, problem: await parse(res) });
      emit("expired", error);
      throw error;
    }
    res = await send(path, { method, body, headers, auth });
  }
  const data = await parse(res);
  if (!res.ok) {
    const problem = data && typeof data === "object" ? data : { detail: String(data || "") };
    if (problem.retry_after == null && res.headers.get("retry-after")) {
      problem.retry_after = Number(res.headers.get("retry-after"));
    }
    throw new ApiError("http", { status: res.status, problem });
  }
  return data;
}

/** All rows of a list endpoint (follows the cursor; the pages here stay small). */
export async function listAll(entity, params = {}, max = 1000) {
  const rows = [];
  let cursor = null;
  do {
    const q = new URLSearchParams({ limit: "200", ...params });
    if (cursor) q.set("cursor", cursor);
    const page = await api(`/api/${entity}?${q}`);
    const items = Array.isArray(page) ? page : page.items || [];
    rows.push(...items);
    cursor = Array.isArray(page) ? null : page.next_cursor;
  } while (cursor && rows.length < max);
  return rows;
}

// ---------------------------------------------------------------- files

function headersFor(extra = {}) {
  const h = { Accept: "application/json", "X-Device-Id": deviceId(), ...extra };
  const key = deviceKey();
  if (key) h["X-Device-Key"] = key;
  const token = accessToken();
  if (token) h.Authorization = "Bearer " + token;
  return h;
}

// fetch has no upload progress; XMLHttpRequest does. Resolves {status, body, retryAfter}
// for any answer, rejects only when no answer came (no network, no server).
function xhrPost(path, form, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    if (onProgress) {
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
    }
    xhr.onload = () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { body = null; }
      resolve({ status: xhr.status, body, retryAfter: xhr.getResponseHeader("retry-after") });
    };
    xhr.onerror = () => reject(new Error("network"));
    xhr.onabort = () => reject(new Error("aborted"));
    xhr.send(form);
  });
}

/** POST multipart/form-data with upload progress (onProgress(loaded, total)). Same
 *  errors as api(): offline, expired (after one refresh), http with the problem. */
export async function upload(path, form, { opId, onProgress } = {}) {
  const extra = opId ? { "Idempotency-Key": opId } : {};
  const post = async () => {
    try { return await xhrPost(path, form, headersFor(extra), onProgress); }
    catch (err) { emit("offline"); throw new ApiError("offline", { message: String(err) }); }
  };
  let res = await post();
  if (res.status === 0) { emit("offline"); throw new ApiError("offline", { message: "no answer" }); }
  emit("online");
  if (res.status === 401) {
    let ok = false;
    try { ok = await refresh(); } catch (err) { if (err instanceof ApiError) throw err; }
    if (!ok) {
      dropTokens();
      const error = new ApiError("expired", { status: 401, problem: res.body });
      emit("expired", error);
      throw error;
    }
    res = await post();
  }
  if (res.status < 200 || res.status >= 300) {
    const problem = res.body && typeof res.body === "object" ? res.body : {};
    if (problem.retry_after == null && res.retryAfter) problem.retry_after = Number(res.retryAfter);
    throw new ApiError("http", { status: res.status, problem });
  }
  return res.body;
}

/** GET a file's bytes as a Blob (with the login, which an <img src> could not send). */
export async function fetchBlob(path) {
  const go = async () => {
    try {
      return await fetch(path, { headers: headersFor(), cache: "no-cache", credentials: "omit" });
    } catch (err) {
      emit("offline");
      throw new ApiError("offline", { message: String(err) });
    }
  };
  let res = await go();
  if (res.status === 401 && (await refresh().catch(() => false))) res = await go();
  if (!res.ok) {
    const problem = await parse(res);
    throw new ApiError(res.status === 401 ? "expired" : "http", { status: res.status,
      problem: problem && typeof problem === "object" ? problem : {} });
  }
  return await res.blob();
}
