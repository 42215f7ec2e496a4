// The console's one script: pages work without it (plain forms); it adds a confirmation
// before revoking, a copy button and times in the reader's own time zone. Loaded as a
// module (script-src 'self', no inline code).

function strings() {
  const node = document.getElementById("strings");
  try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
}

// Moments come as UTC text in <time datetime>; shown here in the browser's own time
// zone and the page's language, the UTC text kept as the tooltip.
function localTimes() {
  const lang = document.documentElement.lang || undefined;
  const withSeconds = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
  const short = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  for (const node of document.querySelectorAll("time[datetime]")) {
    const at = new Date(node.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    node.title = node.textContent;
    node.textContent = (/:\d\d:\d\d UTC$/.test(node.title) ? withSeconds : short).format(at);
  }
}

function init() {
  const t = strings();
  localTimes();
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = t["code.copied"] || "✓";
      } catch {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      }
    });
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
