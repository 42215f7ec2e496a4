// Messages between users: send one, read yours, mark them read. The compose form keeps
// its draft in sessionStorage, so a failed send (offline, session expired) loses nothing.

import { listAll, session } from "../api.js";
import { act, boot, explain } from "../app.js";
import { $, clear, h } from "../dom.js";
import { dateTime, t } from "../i18n.js";
import { debounce, subscribe } from "../live.js";
import { busy, clearDraft, clearErrors, keepDraft, restoreDraft, toast } from "../ui.js";

const DRAFT = "message";
let users = new Map();
let me = null;

function item(msg) {
  const incoming = msg.to_user_id === me.id;
  const other = users.get(incoming ? msg.from_user_id : msg.to_user_id);
  const unread = incoming && !msg.read_at;
  const li = h("li", { class: "row message" + (unread ? " unread" : "") + (incoming ? "" : " sent"),
    dataset: { messageId: msg.id } });
  const who = incoming ? t("messages.from", { name: other ? other.name : "?" })
    : t("messages.to_name", { name: other ? other.name : "?" });
  li.append(h("div", { class: "row-main" },
    h("p", { class: "muted" }, h("strong", { text: who }), " · " + dateTime(msg.sent_at),
      unread ? h("span", { class: "badge unread-badge", text: t("messages.unread") }) : null),
    h("p", { class: "message-body", text: msg.body })));
  if (unread) {
    const b = h("button", { type: "button", class: "btn", "data-action": "read" },
      t("messages.mark_read"));
    // Through the queue like every floor action: kept on the device while offline.
    b.addEventListener("click", () => busy(b, () => act({
      path: `/api/messages/${encodeURIComponent(msg.id)}/read`, what: { key: "op.read" },
    }, { done: t("messages.marked_read") })));
    li.append(b);
  }
  return li;
}

async function loadUsers() {
  const rows = await listAll("users", { sort: "name" });
  users = new Map(rows.map((u) => [u.id, u]));
  const select = $("#message-to");
  clear(select).append(h("option", { value: "", text: t("messages.choose") }));
  for (const u of rows) {
    if (u.id === me.id || u.is_active === false) continue;
    select.append(h("option", { value: u.id, text: `${u.name} (${t("role." + u.role)})` }));
  }
}

async function load() {
  const list = $("#messages");
  try {
    const rows = await listAll("messages", { sort: "-sent_at" }, 200);
    clear(list);
    for (const m of rows) list.append(item(m));
    $("#messages-empty").hidden = rows.length > 0;
    list.removeAttribute("aria-busy");
  } catch (err) { explain(err, { what: t("messages.load_failed") }); }
}

async function send(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const to = form.elements.to_user_id.value;
  const body = form.elements.body.value.trim();
  if (!to) { form.querySelector('[data-error-for="to_user_id"]').textContent = t("messages.need_to"); form.elements.to_user_id.focus(); return; }
  if (!body) { form.querySelector('[data-error-for="body"]').textContent = t("messages.need_body"); form.elements.body.focus(); return; }
  const name = (users.get(to) || {}).name || "";
  await busy($("#message-send"), async () => {
    const ok = await act({ path: "/api/messages", body: { to_user_id: to, body },
      what: { key: "op.message", params: { name } } },
    { form, done: t("messages.sent", { name }), drafted: true });
    if (!ok) return;
    clearDraft(DRAFT);
    form.elements.body.value = "";
    form.classList.remove("has-error");
  });
}

async function main() {
  document.addEventListener("structura:saved", () => load());
  await boot();
  me = session();
  const form = $("#message-form");
  keepDraft(form, DRAFT);
  form.addEventListener("submit", send);
  try { await loadUsers(); } catch (err) { explain(err); }
  // After the recipients exist, so the chosen one can be selected again.
  if (restoreDraft(form, DRAFT)) toast(t("draft.restored"));
  await load();
  const reload = debounce(load, 120);
  subscribe({ entities: ["messages"], onChange: reload, onResync: reload });
}

main();
