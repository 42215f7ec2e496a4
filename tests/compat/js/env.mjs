// What a Vite build and a browser give the apps, for Node: import.meta.env.VITE_API_URL
// (from the environment) and localStorage (in memory, one per process).
class MemoryStorage {
  #items = new Map();
  getItem(key) { return this.#items.has(key) ? this.#items.get(key) : null; }
  setItem(key, value) { this.#items.set(key, String(value)); }
  removeItem(key) { this.#items.delete(key); }
  clear() { this.#items.clear(); }
}

if (typeof globalThis.localStorage === 'undefined') {
  globalThis.localStorage = new MemoryStorage();
}

export const env = { VITE_API_URL: process.env.VITE_API_URL };
