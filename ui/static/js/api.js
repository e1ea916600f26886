// api.js: the page's only way to the agent. request() sends every API call
// with the bearer token when one is kept (in sessionStorage only, never a
// cookie, localStorage or a URL), turns an error answer into an ApiError
// carrying the API's own message, and on a 401 forgets the token and tells
// the app to sign in again. EventStream reads /v1/events with fetch() (an
// EventSource cannot send the Authorization header) and parses the
// text/event-stream frames itself (SSEParser), reconnecting with backoff.

const TOKEN_KEY = 'satellite.token';

// ApiError is a failed request: status is the HTTP code (0: no answer),
// message the API's {"error": ...} text or the network failure.
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

let unauthorized = () => {};
let memoryToken = '';

// onUnauthorized sets what to do when the API refuses the token (401).
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// token is the kept token, or ''.
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || memoryToken;
  } catch {
    return memoryToken;
  }
}

export function setToken(t) {
  try {
    sessionStorage.setItem(TOKEN_KEY, t);
  } catch {
    // storage refused (a private window's quota): the token then lives
    // only as long as this page, in memory
    memoryToken = t;
  }
}

export function clearToken() {
  memoryToken = '';
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing kept
  }
}


function headers(accept, tok, json) {
  const h = { Accept: accept };
  if (tok) h.Authorization = 'Bearer ' + tok;
  if (json) h['Content-Type'] = 'application/json';
  return h;
}

// request calls the API. opts: body (sent as JSON), signal, token (try this
// token instead of the kept one: the sign-in form), probe (a 401 is only
// returned, the app is not told: used while signing in).
export async function request(method, path, opts = {}) {
  const tok = opts.token !== undefined ? opts.token : token();
  const init = {
    method,
    headers: headers('application/json', tok, opts.body !== undefined),
    cache: 'no-store',
    redirect: 'error',
    referrerPolicy: 'no-referrer',
    signal: opts.signal,
  };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(0, 'the agent did not answer (' + (e.message || e) + ')');
  }
  let text = '';
  try {
    text = await res.text();
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(0, 'the answer was cut off (' + (e.message || e) + ')');
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`.trim();
    if (res.status === 401 && !opts.probe) {
      clearToken();
      unauthorized();
    }
    throw new ApiError(res.status, msg, data);
  }
  if (data === null && text) throw new ApiError(res.status, 'the answer is not JSON');
  return data;
}

export function get(path, opts) {
  return request('GET', path, opts);
}

export function isAbort(e) {
  return !!e && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

// SSEParser turns a text/event-stream, fed in chunks of any size, into
// frames {event, data, id}: fields "event:", "data:" (several are joined by
// "\n"), "id:"; a blank line ends a frame; a line starting with ":" is a
// comment (the server's pings). Lines end in "\n", "\r\n" or "\r".
export class SSEParser {
  constructor(onFrame, onComment) {
    this.onFrame = onFrame;
    this.onComment = onComment || (() => {});
    this.buf = '';
    this.lastId = '';
    this.clear();
  }

  clear() {
    this.event = '';
    this.data = [];
  }

  push(chunk) {
    this.buf += chunk;
    let start = 0;
    const buf = this.buf;
    for (;;) {
      let i = start;
      while (i < buf.length && buf[i] !== '\n' && buf[i] !== '\r') i++;
      if (i >= buf.length) break;
      // a "\r" at the very end may be the first half of "\r\n": wait
      if (buf[i] === '\r' && i === buf.length - 1) break;
      const line = buf.slice(start, i);
      start = buf[i] === '\r' && buf[i + 1] === '\n' ? i + 2 : i + 1;
      this.line(line);
    }
    this.buf = buf.slice(start);
  }

  line(l) {
    if (l === '') {
      this.dispatch();
      return;
    }
    if (l[0] === ':') {
      this.onComment(l.slice(1).trim());
      return;
    }
    const c = l.indexOf(':');
    const field = c < 0 ? l : l.slice(0, c);
    let value = c < 0 ? '' : l.slice(c + 1);
    if (value[0] === ' ') value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
      // "retry" and unknown fields: ignored (the client has its own backoff)
    }
  }

  dispatch() {
    if (this.data.length === 0) {
      this.clear();
      return;
    }
    const frame = { event: this.event || 'message', data: this.data.join('\n'), id: this.lastId };
    this.clear();
    this.onFrame(frame);
  }
}

// Backoff between reconnections: 0.5 s, doubling, at most 10 s. A stream
// that stayed up for STABLE_MS starts again from the shortest wait.
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 10000;
const STABLE_MS = 10000;
// The server pings every 15 s; a stream silent for this long is dead.
const IDLE_MS = 45000;

// EventStream keeps one /v1/events stream open. onEvent gets
// {type, data (parsed JSON or null), id}; onState gets "connected" or
// "reconnecting". start() while it runs does nothing: there is never more
// than one stream.
export class EventStream {
  constructor(onEvent, onState) {
    this.onEvent = onEvent;
    this.onState = onState;
    this.running = false;
    this.gen = 0;
    this.ctrl = null;
    this.wake = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.gen++;
    this.loop(this.gen);
  }

  stop() {
    this.running = false;
    this.gen++;
    if (this.ctrl) this.ctrl.abort();
    this.ctrl = null;
    if (this.wake) this.wake();
  }

  alive(gen) {
    return this.running && gen === this.gen;
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        self.wake = null;
        resolve();
      }
      this.wake = done;
    });
  }

  async loop(gen) {
    let delay = BACKOFF_MIN_MS;
    while (this.alive(gen)) {
      const ctrl = new AbortController();
      this.ctrl = ctrl;
      let openedAt = 0;
      let idle = null;
      const arm = () => {
        clearTimeout(idle);
        idle = setTimeout(() => ctrl.abort(), IDLE_MS);
      };
      try {
        arm();
        const res = await fetch('/v1/events', {
          headers: headers('text/event-stream', token(), false),
          cache: 'no-store',
          redirect: 'error',
          referrerPolicy: 'no-referrer',
          signal: ctrl.signal,
        });
        if (res.status === 401) {
          clearTimeout(idle);
          if (this.alive(gen)) {
            this.running = false;
            clearToken();
            unauthorized();
          }
          return;
        }
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        openedAt = Date.now();
        if (this.alive(gen)) this.onState('connected');
        const parser = new SSEParser((f) => {
          if (!this.alive(gen)) return;
          let data = null;
          try {
            data = JSON.parse(f.data);
          } catch {
            data = null;
          }
          this.onEvent({ type: f.event, data, id: f.id });
        });
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !this.alive(gen)) break;
          arm();
          parser.push(value);
        }
        reader.cancel().catch(() => {});
      } catch {
        // network error, idle timeout, 503 (too many streams): retry below
      } finally {
        clearTimeout(idle);
      }
      if (!this.alive(gen)) return;
      this.onState('reconnecting');
      if (openedAt && Date.now() - openedAt >= STABLE_MS) delay = BACKOFF_MIN_MS;
      await this.sleep(delay);
      delay = Math.min(delay * 2, BACKOFF_MAX_MS);
    }
  }
}
