// Reading the tour's rows for a date range, and the pieces the day sheet, calendar and
// travel pages share. Shows and travel are instants with a zone; calendar entries are
// plain dates. A thing belongs to the day it falls on in its own zone.

import { listAll } from "./api.js";
import { h } from "./dom.js";
import { dateTime, dayIn, t, time, zoneName } from "./i18n.js";
import { filesButton } from "./attach.js";

export function isoDay(d) { return d.toISOString().slice(0, 10); }

export function addDays(day, n) {
  const d = new Date(day + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() + n);
  return isoDay(d);
}

export function today() {
  // The device's own date: what "today" means to the person holding it.
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

/** Everything between two days (inclusive), each show/leg on its local day. */
export async function loadRange(first, last) {
  // Zones reach 14 hours either side of UTC: widen the instant window by a day.
  const from = addDays(first, -1) + "T00:00:00Z";
  const to = addDays(last, 2) + "T00:00:00Z";
  const [shows, travel, entries] = await Promise.all([
    listAll("shows", { starts_at__gte: from, starts_at__lt: to, sort: "starts_at" }),
    listAll("travel", { departs_at__gte: from, departs_at__lt: to, sort: "departs_at" }),
    listAll("calendar_entries", { starts_on__lte: last, sort: "starts_on" }),
  ]);
  const inRange = (day) => day >= first && day <= last;
  return {
    shows: shows.filter((s) => inRange(dayIn(s.starts_at, s.tz)))
      .map((s) => ({ ...s, day: dayIn(s.starts_at, s.tz) })),
    travel: travel.filter((x) => inRange(dayIn(x.departs_at, x.departs_tz)))
      .map((x) => ({ ...x, day: dayIn(x.departs_at, x.departs_tz) })),
    entries: entries.filter((e) => (e.ends_on || e.starts_on) >= first && e.starts_on <= last),
  };
}

export function zoneNote(tz) {
  const mine = Intl.DateTimeFormat().resolvedOptions().timeZone;
  return tz && tz !== mine ? ` (${t("zone.time_in", { city: zoneName(tz) })})` : "";
}

/** The office's own clock for an instant (this device's), or "" when it reads the same. */
export function officeTime(iso, tz) {
  if (!tz || !iso) return "";
  const here = time(iso);
  if (here === time(iso, tz)) return "";
  const shift = Math.round((Date.parse(dayIn(iso)) - Date.parse(dayIn(iso, tz))) / 86400000);
  return here + (shift ? ` (${shift > 0 ? "+" : ""}${shift}d)` : "");
}

export function travelItem(leg, { withDate = false, files = true } = {}) {
  const departs = withDate ? dateTime(leg.departs_at, leg.departs_tz) : time(leg.departs_at, leg.departs_tz);
  const arrives = leg.arrives_at
    ? (withDate ? dateTime(leg.arrives_at, leg.arrives_tz) : time(leg.arrives_at, leg.arrives_tz))
    : "–";
  return h("li", { class: "row travel-leg", dataset: { travelId: leg.id } },
    h("div", { class: "row-main" },
      h("p", { class: "row-title" },
        h("span", { class: "badge kind", text: t("travel." + leg.kind) }), " ",
        h("span", { text: `${leg.origin} → ${leg.destination}` })),
      h("p", { text: t("travel.times", {
        departs: departs + zoneNote(leg.departs_tz), arrives: arrives + (leg.arrives_at ? zoneNote(leg.arrives_tz) : ""),
      }) }),
      leg.reference ? h("p", { class: "muted", text: t("travel.reference", { ref: leg.reference }) }) : null,
      leg.people && leg.people.length
        ? h("p", { class: "muted", text: t("travel.people", { people: leg.people.join(", ") }) }) : null,
      leg.notes ? h("p", { class: "muted", text: leg.notes }) : null),
    // Boarding passes, tickets, the hotel booking: the leg's files.
    files ? filesButton({ entity: "travel", id: leg.id,
      title: `${t("travel." + leg.kind)} · ${leg.origin} → ${leg.destination}` }) : null);
}
