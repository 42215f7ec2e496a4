// The operator's actions, kept on the device until the site has them. Each action is an
// operation with an id made here (crypto.randomUUID); it is stored in IndexedDB first,
// then sent with that id as Idempotency-Key. The site keeps the first answer per id, so
// an operation sent twice (a reload mid-send, a replayed queue) is applied once.
// While the site is away the operation waits, shown as pending, and goes out when the
// site answers again — after a reload too, since IndexedDB outlives the page.
// A file upload is an operation too: its bytes (a Blob, which IndexedDB keeps as is)
// and form fields travel in ``op.upload`` and are sent as multipart/form-data.

import { api, ApiError, on, session, upload } from "./api.js";

const DB = "structura";
const STORE = "ops";
const RETRY_MS = 5000;

let dbPromise = null;
function db() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => {
        const store = req.result.createObjectStore(STORE, { keyPath: "id" });
        store.createIndex("user", "user_id");
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

async function tx(mode, fn) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const out = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(out && "result" in out ? out.result : undefined);
    t.onerror = () => reject(t.error);
  });
}

const put = (op) => tx("readwrite", (s) => s.put(op));
const remove = (id) => tx("readwrite", (s) => s.delete(id));

/** This user's operations still waiting, oldest first. */
export async function pending() {
  const user = session();
  if (!user) return [];
  const all = await tx("readonly", (s) => s.index("user").getAll(user.id));
  return (all || []).sort((a, b) => a.seq - b.seq);
}

const listeners = new Set();
/** fn(event): {type: "changed" | "sent" | "refused", op, error?, data?} */
export function onQueue(fn) { listeners.add(fn); }
function emit(event) { for (const fn of listeners) { try { fn(event); } catch (e) { console.error(e); } } }

// Answers that mean "not now" rather than "no": keep the operation and try again.
function retryable(err) {
  if (!(err instanceof ApiError)) return false;
  if (err.kind === "offline" || err.kind === "expired") return true;
  if (err.code === "op_in_progress") return true;
  return err.status >= 500 || err.status === 429 || err.status === 423 || err.status === 408;
}

let seq = Date.now();

/**
 * Perform an operation: {path, method, body, what: {key, params}, scope: {job_id?,
 * machine_id?}}. Resolves {sent: true, data} when the site took it, {queued: true} when
 * it is kept for later; rejects with the ApiError when the site refused it, and, with
 * ``keepIfExpired: false`` (a form whose draft is kept), when the login has expired.
 */
export async function perform(spec, { onProgress = null, keepIfExpired = true } = {}) {
  const user = session();
  const op = { id: crypto.randomUUID(), seq: seq++, user_id: user ? user.id : "",
    created_at: new Date().toISOString(), method: "POST", ...spec };
  await put(op);
  if (onProgress) progress.set(op.id, onProgress);
  emit({ type: "changed" });
  if (sending) { schedule(); return { queued: true, op }; }
  try {
    const data = await send(op);
    return { sent: true, data, op };
  } catch (err) {
    if (err instanceof ApiError && err.kind === "expired" && !keepIfExpired) {
      // The page keeps what was typed as a draft and brings it back after the login:
      // kept here as well, it would be sent twice (the queue, then the person again).
      await remove(op.id);
      emit({ type: "changed" });
      throw err;
    }
    if (retryable(err)) { schedule(); return { queued: true, op }; }
    throw err;
  }
}

const inflight = new Set(); // ids being sent right now (never two sends of one op at once)
const progress = new Map(); // op id -> onProgress(loaded, total), for this page's uploads

function formOf(op) {
  const form = new FormData();
  for (const [k, v] of Object.entries(op.upload.fields || {})) {
    if (v !== null && v !== undefined && v !== "") form.append(k, v);
  }
  form.append("file", op.upload.file, op.upload.filename);
  return form;
}

async function send(op) {
  if (inflight.has(op.id)) throw new ApiError("offline", { message: "in flight" });
  inflight.add(op.id);
  try {
    const data = op.upload
      ? await upload(op.path, formOf(op), { opId: op.id, onProgress: progress.get(op.id) })
      : await api(op.path, { method: op.method, body: op.body, opId: op.id });
    progress.delete(op.id);
    await remove(op.id);
    emit({ type: "changed" });
    return data;
  } catch (err) {
    if (!retryable(err)) { progress.delete(op.id); await remove(op.id); emit({ type: "changed" }); }
    throw err;
  } finally {
    inflight.delete(op.id);
  }
}

let sending = false;
let timer = null;

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(flush, RETRY_MS);
}

/** Send what waits, in order; stop at the first "not now" and try again later. */
export async function flush() {
  if (sending || !session()) return;
  sending = true;
  clearTimeout(timer);
  try {
    for (const op of await pending()) {
      try {
        const data = await send(op);
        emit({ type: "sent", op, data });
      } catch (err) {
        if (retryable(err)) { schedule(); return; }
        emit({ type: "refused", op, error: err });
      }
    }
  } finally {
    sending = false;
  }
}

/** Start sending on the signals that the site may be back. */
export function startQueue() {
  on("online", () => { if (!sending) pending().then((ops) => { if (ops.length) flush(); }); });
  window.addEventListener("online", () => flush());
  flush();
}
