// A board screen (wall TV, tablet on a stand): the board read with the screen's own key,
// trouble first, refreshed every few seconds. No login, so no idle logout, and nothing
// on it can change anything: the key opens the board read and no other route.

import { ApiError, api } from "../api.js";
import { machineCard, sortByTrouble } from "../boardview.js";
import { $, clear } from "../dom.js";
import { t, time } from "../i18n.js";
import { boot } from "../app.js";

const KEY = "structura.displayKey";
const EVERY_MS = 10000;

function takeKey() {
  // The link carries the key in its fragment (never sent to a server or a log); keep it
  // on this device and take it out of the address bar.
  const m = /(?:^#|&)key=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (m) {
    localStorage.setItem(KEY, m[1]);
    history.replaceState(null, "", location.pathname);
  }
  return localStorage.getItem(KEY);
}

async function load(key) {
  const list = $("#board");
  try {
    const cards = await api("/api/display/board", { auth: false,
      headers: { Authorization: "Display " + key } });
    clear(list);
    for (const m of sortByTrouble(cards)) list.append(machineCard(m, { alertsLink: false }));
    list.removeAttribute("aria-busy");
    $("#board-empty").hidden = cards.length > 0;
    $("#display-updated").textContent = t("display.updated", { when: time(new Date().toISOString()) });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      $("#display-invalid").hidden = false;
      localStorage.removeItem(KEY);
      return false;
    }
    // Offline: the kept cards stay up, the banner says since when.
  }
  return true;
}

async function main() {
  await boot({ needLogin: false });
  const key = takeKey();
  if (!key) { $("#display-invalid").hidden = false; return; }
  if (!(await load(key))) return;
  setInterval(() => load(key), EVERY_MS);
  window.addEventListener("online", () => load(key));
}

main();
