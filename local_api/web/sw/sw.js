// The pages' service worker: keeps the page shells, their scripts and the last data the
// pages read, so that a tablet whose site server is unreachable still shows its pages
// (marked as old data) instead of the browser's "site can't be reached".
// The server fills in VERSION and ASSETS (the stylesheets, icon and time-zone names, with
// their ?v= version; page script bundles are kept as their pages are visited).

const VERSION = "__VERSION__";
const ASSETS = __ASSETS__;
const SHELLS = "structura-shells-" + VERSION;
const DATA = "structura-data"; // API reads; cleared at every login and logout
const STALE = "X-Structura-Stale"; // on a cached API answer: when it was fetched
const WAIT_MS = 4000; // a server that answers nothing for this long counts as away

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHELLS);
    // One by one: a single missing file must not stop the rest from being kept.
    await Promise.all(ASSETS.map((url) => cache.add(url).catch(() => null)));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("structura-shells-") && name !== SHELLS) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  const msg = event.data || {};
  if (msg.type === "forget-data") event.waitUntil(caches.delete(DATA));
  // A page loaded before this worker took over asks to be kept for the next outage.
  // With it, the files it was drawn with (its script bundle): other pages' files are
  // kept as those pages are visited, through asset() below.
  if (msg.type === "keep-page" && typeof msg.path === "string" && msg.path.startsWith("/app")) {
    const files = (Array.isArray(msg.files) ? msg.files : [])
      .filter((f) => typeof f === "string" && f.startsWith("/app/static/"));
    event.waitUntil(caches.open(SHELLS).then((c) => Promise.all([
      c.add(msg.path), // the shell as it is now
      ...files.map((url) => c.match(url).then((kept) => kept || c.add(url))), // immutable
    ].map((p) => p.catch(() => null)))));
  }
});

function timeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then((v) => { clearTimeout(timer); resolve(v); },
      (e) => { clearTimeout(timer); reject(e); });
  });
}

async function page(request) {
  const cache = await caches.open(SHELLS);
  const key = new URL(request.url);
  key.search = ""; // one shell per page, whatever its query
  try {
    const response = await timeout(fetch(request), WAIT_MS);
    if (response.ok) cache.put(key.href, response.clone());
    return response;
  } catch (err) {
    const kept = await cache.match(key.href);
    if (kept) return kept;
    const any = await cache.match(new URL("/app/login", key).href);
    return any || Response.error();
  }
}

async function asset(request) {
  const cache = await caches.open(SHELLS);
  const kept = await cache.match(request);
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) cache.put(request, response.clone());
  return response;
}

async function read(request) {
  const cache = await caches.open(DATA);
  try {
    const response = await timeout(fetch(request), WAIT_MS);
    if (response.ok) {
      const body = await response.clone().arrayBuffer();
      const headers = new Headers(response.headers);
      headers.set(STALE, new Date().toISOString());
      cache.put(request.url, new Response(body, { status: 200, headers }));
    }
    return response;
  } catch (err) {
    const kept = await cache.match(request.url);
    if (kept) return kept;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app")) {
    event.respondWith(page(request));
  } else if (url.pathname.startsWith("/app/static/") || url.pathname.startsWith("/app/zones/")) {
    event.respondWith(asset(request));
  } else if (url.pathname.startsWith("/api/") && !url.pathname.startsWith("/api/auth/")
             && url.pathname !== "/api/live") {
    event.respondWith(read(request));
  }
});
