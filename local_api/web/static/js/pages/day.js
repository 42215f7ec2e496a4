// Today's day sheet: the show (venue, time in the show's zone), the day's travel and
// other plans. ?date=YYYY-MM-DD picks another day.

import { session } from "../api.js";
import { boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { loadZones, longDate, money, t, time } from "../i18n.js";
import { addDays, loadRange, officeTime, today, travelItem, zoneNote } from "../tour.js";
import { filesButton, setupFiles } from "../attach.js";

const OFFICE = ["admin", "office"];

function showBlock(show, user) {
  const office = officeTime(show.starts_at, show.tz);
  const place = [show.venue, show.city, show.country].filter(Boolean).join(", ");
  const block = h("article", { class: "panel show", dataset: { showId: show.id } },
    h("h3", { class: "show-title", text: show.city + (show.venue ? " · " + show.venue : "") }),
    h("dl", { class: "facts" },
      h("div", {}, h("dt", { text: t("day.show_time") }),
        h("dd", { class: "big show-time", text: time(show.starts_at, show.tz) + zoneNote(show.tz) })),
      office ? h("div", {}, h("dt", { text: t("day.office_time") }),
        h("dd", { class: "office-time", text: office })) : null,
      h("div", {}, h("dt", { text: t("day.venue") }), h("dd", { text: place })),
      h("div", {}, h("dt", { text: t("day.status") }),
        h("dd", {}, h("span", { class: "badge show-" + show.status, text: t("show." + show.status) }))),
      show.tour ? h("div", {}, h("dt", { text: t("day.tour") }), h("dd", { text: show.tour })) : null),
    show.notes ? h("p", { class: "notes", text: show.notes }) : null,
    // The rider, the contract, the venue's plan: the show's files, for the crew too.
    h("p", {}, filesButton({ entity: "shows", id: show.id,
      title: show.city + (show.venue ? " · " + show.venue : "") })));
  if (OFFICE.includes(user.role)) {
    block.append(h("p", {}, h("a", { class: "btn", href: `/app/shows/${encodeURIComponent(show.id)}` },
      t("settlement.open", { fee: money(show.fee, show.currency) }))));
  }
  return block;
}

async function render(day) {
  const root = $("#day");
  root.setAttribute("aria-busy", "true");
  let data;
  try { data = await loadRange(day, day); }
  catch (err) { explain(err, { what: t("day.load_failed") }); return; }
  const user = session();
  clear(root);
  root.append(h("h2", { class: "day-title", text: longDate(new Date(day + "T00:00:00Z")) }));
  const shows = h("section", { "aria-labelledby": "shows-h" },
    h("h2", { id: "shows-h", text: t("day.shows") }));
  if (data.shows.length) for (const s of data.shows) shows.append(showBlock(s, user));
  else shows.append(h("p", { class: "muted", text: t("day.no_show") }));
  const legs = h("section", { "aria-labelledby": "travel-h" },
    h("h2", { id: "travel-h", text: t("day.travel") }));
  if (data.travel.length) legs.append(h("ul", { class: "list" }, data.travel.map((x) => travelItem(x))));
  else legs.append(h("p", { class: "muted", text: t("day.no_travel") }));
  root.append(shows, legs);
  if (data.entries.length) {
    root.append(h("section", { "aria-labelledby": "other-h" },
      h("h2", { id: "other-h", text: t("day.other") }),
      h("ul", { class: "list" }, data.entries.map((e) => h("li", { class: "row" },
        h("div", { class: "row-main" },
          h("p", { class: "row-title" }, h("span", { class: "badge kind", text: t("cal." + e.kind) }),
            " ", h("span", { text: e.title })),
          e.location ? h("p", { class: "muted", text: e.location }) : null,
          e.notes ? h("p", { class: "muted", text: e.notes }) : null))))));
  }
  root.removeAttribute("aria-busy");
}

async function main() {
  await boot();
  setupFiles();
  await loadZones();
  const params = new URLSearchParams(location.search);
  const asked = params.get("date");
  let day = asked && /^\d{4}-\d{2}-\d{2}$/.test(asked) ? asked : today();
  const input = $("#day-date");
  input.value = day;
  const go = (d) => {
    day = d;
    input.value = d;
    history.replaceState(null, "", "?date=" + d);
    render(d);
  };
  input.addEventListener("change", () => { if (input.value) go(input.value); });
  $("#day-prev").addEventListener("click", () => go(addDays(day, -1)));
  $("#day-next").addEventListener("click", () => go(addDays(day, 1)));
  $("#day-pick").addEventListener("submit", (e) => e.preventDefault());
  await render(day);
}

main();
