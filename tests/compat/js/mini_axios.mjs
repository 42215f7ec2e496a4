// The part of axios the tour app's apiClient uses, on Node's fetch (no npm package):
// create({baseURL}), request/response interceptors, get/post/patch/delete/request
// resolving to {data, status, config}, errors with error.response and error.config,
// and a bare post(). Statuses outside 2xx reject, as axios does.
async function send(config) {
  const url = /^https?:/.test(config.url) ? config.url : `${config.baseURL || ''}${config.url}`;
  const headers = { Accept: 'application/json', ...(config.headers || {}) };
  const init = { method: (config.method || 'get').toUpperCase(), headers };
  if (config.data !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(config.data);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = text;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: keep the text */ }
  const result = { data, status: response.status, headers: response.headers, config };
  if (response.status < 200 || response.status >= 300) {
    const error = new Error(`Request failed with status code ${response.status}`);
    error.response = result;
    error.config = config;
    throw error;
  }
  return result;
}

function create(defaults = {}) {
  const requestHandlers = [];
  const responseHandlers = [];
  const instance = {
    defaults,
    interceptors: {
      request: { use: (fn) => requestHandlers.push(fn) },
      response: { use: (ok, fail) => responseHandlers.push({ ok, fail }) },
    },
    async request(config) {
      let cfg = { ...defaults, ...config, headers: { ...(config.headers || {}) } };
      for (const fn of requestHandlers) cfg = (await fn(cfg)) || cfg;
      let outcome;
      try {
        outcome = { value: await send(cfg) };
      } catch (error) {
        outcome = { error };
      }
      for (const { ok, fail } of responseHandlers) {
        try {
          outcome = 'error' in outcome
            ? (fail ? { value: await fail(outcome.error) } : outcome)
            : { value: ok ? await ok(outcome.value) : outcome.value };
        } catch (error) {
          outcome = { error };
        }
      }
      if ('error' in outcome) throw outcome.error;
      return outcome.value;
    },
    get: (url, config = {}) => instance.request({ ...config, url, method: 'get' }),
    delete: (url, config = {}) => instance.request({ ...config, url, method: 'delete' }),
    post: (url, data, config = {}) => instance.request({ ...config, url, data, method: 'post' }),
    patch: (url, data, config = {}) => instance.request({ ...config, url, data, method: 'patch' }),
  };
  return instance;
}

const axios = {
  create,
  post: (url, data, config = {}) => send({ ...config, url, data, method: 'post' }),
  get: (url, config = {}) => send({ ...config, url, method: 'get' }),
};
export default axios;
