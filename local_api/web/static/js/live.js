// The live change stream (/api/live, Server-Sent Events). EventSource cannot send an
// Authorization header, so the token goes in the query string (the API accepts it
// there for this route only). A 401 closes the stream for good: then we let the fetch
// wrapper refresh the token (or report the session expired) and open a new one.

import { accessToken, api, ApiError } from "./api.js";

/**
 * subscribe({entities, onChange, onResync, onState})
 *  entities: names whose changes matter (others are ignored)
 *  onChange(event): {entity, id, kind, version}
 *  onResync(): missed events; reload everything shown
 *  onState(state): "live" | "connecting" | "offline"
 */
export function subscribe({ entities, onChange, onResync, onState = () => {} }) {
  let source = null;
  let retry = 1000;
  let stopped = false;
  let opened = false;

  const connect = () => {
    if (stopped) return;
    const token = accessToken();
    if (!token) return;
    onState("connecting");
    source = new EventSource("/api/live?access_token=" + encodeURIComponent(token));
    source.addEventListener("open", () => {
      retry = 1000;
      onState("live");
      // Anything may have changed while we were not listening.
      if (opened) onResync();
      opened = true;
    });
    source.addEventListener("change", (e) => {
      let data;
      try { data = JSON.parse(e.data); } catch { return; }
      if (!entities || entities.includes(data.entity)) onChange(data);
    });
    source.addEventListener("resync", () => onResync());
    source.addEventListener("error", async () => {
      if (source.readyState !== EventSource.CLOSED) { onState("connecting"); return; }
      source.close();
      onState(navigator.onLine ? "connecting" : "offline");
      try {
        await api("/api/auth/me"); // refreshes the token if that was the problem
      } catch (err) {
        if (err instanceof ApiError && err.kind === "expired") { stopped = true; return; }
        // No answer at all: the site is away, say so (never "connecting" forever).
        if (err instanceof ApiError && err.kind === "offline") onState("offline");
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 30000);
    });
  };

  connect();
  window.addEventListener("pagehide", () => { stopped = true; if (source) source.close(); });
  return { close() { stopped = true; if (source) source.close(); } };
}

/** Run fn at most once per `ms`, trailing: a burst of changes costs one reload. */
export function debounce(fn, ms = 120) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
