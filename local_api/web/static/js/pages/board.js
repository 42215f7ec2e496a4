// The machine board: trouble first, one card per machine, kept current by the live
// stream. Floor roles get a stop start/end pair and the status dialog on each card; the
// office can also make a read-only board screen (a wall TV) from here.

import { api } from "../api.js";
import { boot, drawn, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import {
  afterSave, endDowntime, openDowntime, openStatus, setupFactoryDialogs, stopText,
} from "../factory.js";
import { machineCard, sortByTrouble } from "../boardview.js";
import { dateTime, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";
import { openStops } from "../stops.js";
import { busy } from "../ui.js";
import { filesButton, setupFiles } from "../attach.js";

const FLOOR = ["admin", "office", "operator"];
const OFFICE = ["admin", "office"];
let user = null;
let loading = null;

// The server's board card names its open stop ``stop`` ({id, reason, since}).
function stopOf(m) {
  return m.stop ? { id: m.stop.id, reason: m.stop.reason, started_at: m.stop.since } : null;
}

function actions(m) {
  if (!FLOOR.includes(user.role)) return [];
  const row = h("div", { class: "actions actions-board" });
  if (m.open_downtime) {
    const end = h("button", { type: "button", class: "btn btn-ok", "data-action": "downtime-end" },
      t("downtime.end"));
    end.addEventListener("click", () => endDowntime(m, m.open_downtime, end));
    row.append(end);
    // Photos of the stop (what broke), from the tablet beside the machine.
    if (m.open_downtime.id) {
      row.append(filesButton({ entity: "downtimes", id: m.open_downtime.id,
        title: `${m.name} · ${stopText(m.open_downtime)}` }));
    }
  } else {
    row.append(h("button", { type: "button", class: "btn btn-warn", "data-action": "downtime",
      onclick: () => openDowntime(m) }, t("downtime.start")));
  }
  row.append(h("button", { type: "button", class: "btn", "data-action": "status",
    onclick: () => openStatus(m) }, t("status.title")));
  return [row];
}

async function load() {
  // One board fetch at a time; a change during a fetch queues exactly one more.
  if (loading) { loading.again = true; return; }
  loading = { again: false };
  const list = $("#board");
  try {
    // The board and the open stops at once: one round trip, not two, on a slow link.
    const [cards, stops] = await Promise.all([api("/api/board"), openStops()]);
    const shown = sortByTrouble(cards.map((m) => ({ ...m,
      open_downtime: m.open_downtime || stopOf(m) || stops.get(m.id) || null })));
    clear(list);
    for (const m of shown) list.append(machineCard(m, {}, ...actions(m)));
    $("#board-empty").hidden = cards.length > 0;
    list.removeAttribute("aria-busy");
    list.dataset.loadedAt = String(Date.now());
  } catch (err) {
    explain(err, { what: t("board.load_failed") });
  } finally {
    const again = loading.again;
    loading = null;
    if (again) load();
  }
}

function liveState(state) {
  const p = $("#live-state");
  p.dataset.state = state;
  p.textContent = t("live." + state);
}

function setupScreens() {
  const panel = $("#screens");
  if (!panel || !OFFICE.includes(user.role)) return;
  panel.hidden = false;
  const form = $("#screen-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const button = $("#screen-make");
    busy(button, async () => {
      try {
        const out = await api("/api/display/screens", { method: "POST",
          body: { name: form.elements.name.value.trim() || t("display.title") } });
        const link = new URL(out.url, location.origin).href;
        const result = clear($("#screen-link"));
        result.append(h("p", { text: t("display.made", { days: 180 }) }),
          h("a", { href: link, class: "screen-url", text: link }));
        await listScreens();
      } catch (err) { explain(err, { form }); }
    });
  });
  listScreens();
}

// The office's screens, newest first: a lost or stolen TV link is revoked here and
// stops reading the board at its next refresh.
async function listScreens() {
  const list = $("#screen-list");
  let screens = [];
  try { screens = await api("/api/display/screens"); } catch (err) { explain(err); return; }
  screens.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  clear(list);
  if (!screens.length) list.append(h("li", { class: "screen-none", text: t("display.none") }));
  for (const s of screens) {
    const state = s.revoked ? t("display.revoked")
      : t("display.until", { when: dateTime(s.expires_at) });
    const item = h("li", { class: "row screen", "data-id": s.id },
      h("strong", { text: s.name }), h("span", { class: "screen-state", text: state }));
    if (!s.revoked) {
      const button = h("button", { type: "button", class: "btn btn-warn",
        text: t("display.revoke"), "aria-label": t("display.revoke") + ": " + s.name });
      button.addEventListener("click", () => busy(button, async () => {
        if (!confirm(t("display.revoke_confirm", { name: s.name }))) return;
        try {
          await api(`/api/display/screens/${encodeURIComponent(s.id)}/revoke`,
            { method: "POST" });
        } catch (err) { explain(err); }
        await listScreens();
      }));
      item.append(button);
    }
    list.append(item);
  }
}

async function main() {
  user = await boot();
  setupFactoryDialogs();
  setupFiles();
  afterSave(debounce(load, 100));
  setupScreens();
  await load();
  drawn();
  const reload = debounce(load, 80);
  subscribe({
    entities: ["machines", "jobs", "alerts", "downtimes"],
    onChange: reload,
    onResync: reload,
    onState: liveState,
  });
}

main();
