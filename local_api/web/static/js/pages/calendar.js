// Month view of shows, travel and other days. On a phone the grid becomes a list of
// the days that have something (CSS), so nothing is too small to tap.

import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { lang, loadZones, t, time } from "../i18n.js";
import { addDays, loadRange, today } from "../tour.js";

function monthBounds(ym) {
  const [y, m] = ym.split("-").map(Number);
  const first = `${ym}-01`;
  const last = new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
  return { first, last };
}

function shiftMonth(ym, n) {
  const [y, m] = ym.split("-").map(Number);
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return d.toISOString().slice(0, 7);
}

function weekdayNames() {
  const fmt = new Intl.DateTimeFormat(lang(), { weekday: "short", timeZone: "UTC" });
  // 2024-01-01 was a Monday; weeks start on Monday here.
  return Array.from({ length: 7 }, (_, i) => fmt.format(new Date(Date.UTC(2024, 0, 1 + i))));
}

async function render(ym) {
  const root = $("#calendar");
  const { first, last } = monthBounds(ym);
  $("#month-title").textContent = new Intl.DateTimeFormat(lang(), { month: "long", year: "numeric",
    timeZone: "UTC" }).format(new Date(first + "T00:00:00Z"));
  root.setAttribute("aria-busy", "true");
  let data;
  try { data = await loadRange(first, last); }
  catch (err) { explain(err, { what: t("calendar.load_failed") }); return; }
  const byDay = new Map();
  const add = (day, node) => { if (!byDay.has(day)) byDay.set(day, []); byDay.get(day).push(node); };
  for (const s of data.shows) {
    add(s.day, h("li", { class: "ev ev-show", text: `${time(s.starts_at, s.tz)} ${s.city}` }));
  }
  for (const x of data.travel) {
    add(x.day, h("li", { class: "ev ev-travel", text: `${t("travel." + x.kind)} → ${x.destination}` }));
  }
  for (const e of data.entries) {
    for (let d = e.starts_on < first ? first : e.starts_on; d <= (e.ends_on || e.starts_on) && d <= last; d = addDays(d, 1)) {
      add(d, h("li", { class: "ev ev-other", text: `${t("cal." + e.kind)}: ${e.title}` }));
    }
  }
  clear(root);
  const grid = h("div", { class: "cal-grid", role: "list" });
  for (const name of weekdayNames()) grid.append(h("div", { class: "cal-dow", "aria-hidden": "true", text: name }));
  const lead = (new Date(first + "T00:00:00Z").getUTCDay() + 6) % 7;
  for (let i = 0; i < lead; i++) grid.append(h("div", { class: "cal-pad", "aria-hidden": "true" }));
  const now = today();
  const dayFmt = new Intl.DateTimeFormat(lang(), { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" });
  for (let d = first; d <= last; d = addDays(d, 1)) {
    const items = byDay.get(d) || [];
    grid.append(h("div", { class: "cal-day" + (items.length ? " has-items" : "") + (d === now ? " today" : ""),
      role: "listitem", dataset: { day: d } },
    h("a", { class: "cal-date", href: `/app/day?date=${d}`, "aria-label": dayFmt.format(new Date(d + "T00:00:00Z")) },
      h("span", { "aria-hidden": "true", text: String(Number(d.slice(8))) }),
      h("span", { class: "cal-date-long", "aria-hidden": "true", text: dayFmt.format(new Date(d + "T00:00:00Z")) })),
    items.length ? h("ul", { class: "cal-items" }, items) : null));
  }
  root.append(grid);
  if (!byDay.size) root.append(h("p", { class: "muted", text: t("calendar.empty") }));
  root.removeAttribute("aria-busy");
}

async function main() {
  await boot();
  await loadZones();
  const asked = new URLSearchParams(location.search).get("month");
  let ym = asked && /^\d{4}-\d{2}$/.test(asked) ? asked : today().slice(0, 7);
  const go = (m) => { ym = m; history.replaceState(null, "", "?month=" + m); render(m); };
  $("#month-prev").addEventListener("click", () => go(shiftMonth(ym, -1)));
  $("#month-next").addEventListener("click", () => go(shiftMonth(ym, 1)));
  await render(ym);
}

main();
