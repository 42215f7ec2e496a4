// A page's first API reads, started as soon as the shell is parsed instead of after the
// page's script has arrived and run: on a 150 ms shop-floor link that is one round trip
// fewer before the page shows its data. The shell names the reads on this script's tag
// (data-reads, the exact paths the page script asks for); api.js takes each answer once,
// for the same path and login, and asks again for anything else. A plain script (no
// imports, run as soon as it arrives), so it is never held up by the page's own script.
(() => {
  if ("structuraEarly" in window) return; // the page's script is already running
  const tag = document.getElementById("early-reads");
  const token = sessionStorage.getItem("structura.access");
  if (!tag || !token || !sessionStorage.getItem("structura.user")) return;
  // The device id api.js made at login (it alone makes and checks it): without one,
  // the page's script reads as usual.
  const device = localStorage.getItem("structura.device");
  if (!device) return;
  const headers = { Accept: "application/json", "X-Device-Id": device,
    Authorization: "Bearer " + token };
  const key = localStorage.getItem("structura.device.key");
  if (key) headers["X-Device-Key"] = key;
  const reads = new Map();
  for (const path of (tag.dataset.reads || "").split(" ")) {
    if (!path.startsWith("/api/")) continue;
    const response = fetch(path, { headers, cache: "no-cache", credentials: "omit" });
    response.catch(() => null); // api.js asks again if this one got no answer
    reads.set(path, { token, at: Date.now(), response });
  }
  window.structuraEarly = reads;
})();
