// The console's one script: pages work without it (plain forms); it adds a confirmation
// before revoking and a copy button. Loaded as a module (script-src 'self', no inline code).

function strings() {
  const node = document.getElementById("strings");
  try { return node ? JSON.parse(node.textContent) : {}; } catch { return {}; }
}

function init() {
  const t = strings();
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
