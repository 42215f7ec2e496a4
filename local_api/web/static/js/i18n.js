// Strings come from the JSON data block the server rendered into the page, so the
// browser and the templates say the same thing in the same language.

let table = null;

function load() {
  if (table) return table;
  const node = document.getElementById("strings");
  try { table = node ? JSON.parse(node.textContent) : {}; } catch { table = {}; }
  return table;
}

export function lang() { return document.documentElement.lang || "es"; }

/** t("jobs.done_of", {done: 3, total: 5}) -> text with {name} placeholders filled. */
export function t(key, params = {}) {
  const text = load()[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

export function has(key) { return key in load(); }

// Intl formatters are slow to make (a board of a dozen cards made dozens, a visible
// part of its first draw on a slow tablet): each kind, language and options made once.
// A bad option (an unknown time zone) throws here as before and is not kept.
const formatters = new Map();
function formatter(Kind, locale, opts) {
  const key = `${Kind.name}|${locale}|${JSON.stringify(opts)}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Kind(locale, opts);
    formatters.set(key, f);
  }
  return f;
}

export function num(value, digits = 0) {
  if (value === null || value === undefined || value === "") return "–";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return formatter(Intl.NumberFormat, lang(), { maximumFractionDigits: digits,
    minimumFractionDigits: 0 }).format(n);
}

export function money(value, currency) {
  if (value === null || value === undefined) return "–";
  try {
    return formatter(Intl.NumberFormat, lang(), { style: "currency", currency })
      .format(Number(value));
  } catch {
    return `${num(value, 2)} ${currency || ""}`.trim();
  }
}

export function pct(ratio) {
  if (ratio === null || ratio === undefined) return "–";
  return formatter(Intl.NumberFormat, lang(), { style: "percent", maximumFractionDigits: 1 })
    .format(Number(ratio));
}

// Times are shown in the zone of the thing they belong to (a show in Tokyo at 19:00
// reads 19:00 wherever the phone is), with the zone named when it is not the phone's.
export function time(iso, tz) {
  if (!iso) return "–";
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (tz) opts.timeZone = tz;
  try { return formatter(Intl.DateTimeFormat, lang(), opts).format(new Date(iso)); }
  catch { return formatter(Intl.DateTimeFormat, lang(), { hour: "2-digit", minute: "2-digit" })
    .format(new Date(iso)); }
}

export function dateTime(iso, tz) {
  if (!iso) return "–";
  const opts = { weekday: "short", day: "numeric", month: "short", hour: "2-digit",
    minute: "2-digit" };
  if (tz) opts.timeZone = tz;
  try { return formatter(Intl.DateTimeFormat, lang(), opts).format(new Date(iso)); }
  catch {
    delete opts.timeZone;
    return formatter(Intl.DateTimeFormat, lang(), opts).format(new Date(iso));
  }
}

export function longDate(d) {
  return formatter(Intl.DateTimeFormat, lang(), { weekday: "long", day: "numeric",
    month: "long", year: "numeric", timeZone: "UTC" }).format(d);
}

/** The calendar date (YYYY-MM-DD) an instant falls on in a zone. */
export function dayIn(iso, tz) {
  const opts = { year: "numeric", month: "2-digit", day: "2-digit" };
  if (tz) opts.timeZone = tz;
  let parts;
  try { parts = formatter(Intl.DateTimeFormat, "en-CA", opts).formatToParts(new Date(iso)); }
  catch {
    delete opts.timeZone;
    parts = formatter(Intl.DateTimeFormat, "en-CA", opts).formatToParts(new Date(iso));
  }
  const get = (type) => parts.find((p) => p.type === type).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

export function relative(iso) {
  if (!iso) return "";
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = formatter(Intl.RelativeTimeFormat, lang(), { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 60) return rtf.format(Math.round(seconds), "second");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

// ---------------------------------------------------------------- zones as places

let zones = {};

/** Load the city names of time zones in the page's language (Babel's, made by the
 *  server once; cached like any static file). Pages that show zones await it first. */
export async function loadZones() {
  const v = document.body.dataset.v || "";
  try {
    const res = await fetch(`/app/zones/${lang()}.json?v=${v}`, { credentials: "omit" });
    if (res.ok) zones = await res.json();
  } catch { /* offline without a cached copy: the IANA city below */ }
}

/** "Europe/Lisbon" -> "Lisboa" (es) / "Lisbon" (en). */
export function zoneName(tz) {
  if (!tz) return "";
  return zones[tz] || tz.split("/").pop().replace(/_/g, " ");
}

// ---------------------------------------------------------------- server problems

// Parameters of a coded problem in words: enum values through their own tables,
// numbers through Intl.
const ENUM_PARAMS = { status: "job.", target: "job.", from: "job.", to: "job.",
  reason: "reason.", machine_status: "machine.", kind: "alertkind." };

function problemParams(params = {}) {
  const out = {};
  for (const [k, v] of Object.entries(params || {})) {
    const prefix = ENUM_PARAMS[k];
    if (prefix && typeof v === "string" && has(prefix + v)) out[k] = t(prefix + v);
    else if (typeof v === "number" || (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v)
      && !/(_id|number|job)$/.test(k))) out[k] = num(v, 3);
    else out[k] = v;
  }
  return out;
}

/** The text of a server problem ({code, params}) in the page's language, or null when
 *  the code is not one this page knows (the caller then says it by status). The server's
 *  English ``detail`` is never shown. */
export function problemText(problem) {
  const code = problem && problem.code;
  if (!code) return null;
  if (has("problem." + code)) return t("problem." + code, problemParams(problem.params));
  // Any other rule of the work (core.rules), with its parameters.
  if (has("rule." + code)) return t("rule." + code, problemParams(problem.params));
  return null;
}

/** One field error ({field, message, code?, params?}) in words. */
export function fieldText(e) {
  if (e.code && has("field." + e.code)) return t("field." + e.code, problemParams(e.params));
  if (e.code && has("rule." + e.code)) return t("rule." + e.code, problemParams(e.params));
  // A rule's field error may carry its code as the message.
  if (e.message && has("rule." + e.message)) return t("rule." + e.message, problemParams(e.params));
  const key = "field." + String(e.message || "").toLowerCase().trim().replace(/[^a-z0-9]+/g, "_");
  return has(key) ? t(key) : t("field.invalid");
}

/** An enum value in words; an unknown value is shown as it is rather than as a key. */
export function label(prefix, value) {
  return has(prefix + value) ? t(prefix + value) : String(value ?? "–");
}
