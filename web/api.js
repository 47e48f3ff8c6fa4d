// The control plane's API as the page reads it. The token, when the control plane has one, comes
// from the URL fragment (#token=..., as `petrel dashboard --token-file F` writes it: a fragment never
// reaches a server or a log) and goes out only as `authorization: Bearer`. It is moved to this tab's
// sessionStorage and the fragment is cleared, so it does not linger in the address bar or history.

const KEY = 'petrel-token';

export class ApiError extends Error {
  constructor(path, status, message) {
    super(`${path}: ${status} ${message}`);
    this.path = path;
    this.status = status;
    this.detail = message;
  }
}

/** The token from #token=..., else the one this tab saved. */
export function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const given = fragment.get('token');
  if (given !== null) {
    sessionStorage.setItem(KEY, given);
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY) ?? '';
}

export function saveToken(token) {
  sessionStorage.setItem(KEY, token);
}

/** API paths are fetched relative to the page, so that it also works behind a path prefix (kubectl proxy). */
const relative = (path) => path.replace(/^\//, '');

export class Api {
  constructor(token) {
    this.token = token;
  }

  #headers() {
    return this.token === '' ? {} : { authorization: `Bearer ${this.token}` };
  }

  /** GET a JSON document; an answer other than 2xx throws ApiError with the server's error text. */
  async get(path, signal) {
    const res = await fetch(relative(path), { headers: this.#headers(), cache: 'no-store', signal });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new ApiError(path, res.status, typeof body.error === 'string' ? body.error : res.statusText);
    return body;
  }

  /** GET an NDJSON stream, calling onLine with each parsed line until it ends or `signal` aborts. */
  async stream(path, onLine, signal) {
    const res = await fetch(relative(path), { headers: this.#headers(), cache: 'no-store', signal });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new ApiError(path, res.status, typeof body.error === 'string' ? body.error : res.statusText);
    }
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line !== '') onLine(JSON.parse(line));
      }
    }
  }
}

/** True when the control plane answered that it has no such API (an older or narrower build). */
export function missingApi(err) {
  return err instanceof ApiError && err.status === 404 && /^no API endpoint /.test(err.detail);
}
