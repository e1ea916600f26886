// format.js: pure helpers shared by the pages: HTML escaping (every value
// from the API goes through esc before it reaches innerHTML), status words
// and icons, times, durations, metrics, and the hash-route links. Nothing
// here touches the DOM, so it can be tested outside a browser.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

// esc escapes a value for HTML text and quoted attribute values.
export function esc(v) {
  if (v === null || v === undefined) return '';
  return String(v).replace(/[&<>"']/g, (c) => ESC[c]);
}

// Status words, icons and severity. The icon is decoration (aria-hidden):
// the word is always written next to it, so colour is never the only cue.
const STATUS = {
  // probe statuses
  passing: { icon: '✓', rank: 4 },
  warning: { icon: '▲', rank: 2 },
  critical: { icon: '✕', rank: 0 },
  blocked: { icon: '⊘', rank: 1 },
  unknown: { icon: '?', rank: 3 },
  // node statuses
  healthy: { icon: '✓', rank: 2 },
  degraded: { icon: '✕', rank: 0 },
  // member statuses and history words
  alive: { icon: '✓', rank: 3 },
  failed: { icon: '✕', rank: 0 },
  leaving: { icon: '↘', rank: 1 },
  left: { icon: '↘', rank: 1 },
};

// statusClass is the CSS class that colours a status ("st-critical").
export function statusClass(s) {
  return 'st-' + (STATUS[s] ? s : 'other');
}

// badge is a status as an icon and a word, coloured by its class.
export function badge(s) {
  const st = s || 'unknown';
  const icon = STATUS[st] ? STATUS[st].icon : '•';
  return `<span class="badge ${statusClass(st)}"><span class="icon" aria-hidden="true">${icon}</span> ${esc(st)}</span>`;
}

// rank orders statuses worst first (lower is worse).
export function rank(s) {
  return STATUS[s] ? STATUS[s].rank : 5;
}

// isFailing says whether a probe status counts as failing (as the results
// endpoint counts it): warning, critical or blocked.
export function isFailing(s) {
  return s === 'warning' || s === 'critical' || s === 'blocked';
}

// parseTime turns an RFC 3339 string (or unix seconds) into a Date, or null.
export function parseTime(v) {
  if (v === null || v === undefined || v === '') return null;
  const d = typeof v === 'number' ? new Date(v * 1000) : new Date(v);
  if (isNaN(d.getTime()) || d.getUTCFullYear() <= 1) return null;
  return d;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

// fmtTime is a local date and time, "2026-11-25 12:00:05".
export function fmtTime(v) {
  const d = parseTime(v);
  if (!d) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtClock is a local time of day, "12:00:05".
export function fmtClock(v) {
  const d = v instanceof Date ? v : parseTime(v);
  if (!d) return '';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// fmtSeconds is a length of time in seconds, short: "0.4 s", "12 s",
// "5 min", "3 h 10 min", "2 d 4 h".
export function fmtSeconds(sec) {
  if (sec === null || sec === undefined || !isFinite(sec)) return '';
  const s = Math.abs(sec);
  if (s < 10) return `${Math.round(s * 10) / 10} s`;
  if (s < 90) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  if (m < 48 * 60) {
    const h = Math.floor(m / 60);
    const rm = m % 60;
    return rm ? `${h} h ${rm} min` : `${h} h`;
  }
  const th = Math.round(s / 3600);
  const d = Math.floor(th / 24);
  const rh = th - d * 24;
  return rh ? `${d} d ${rh} h` : `${d} d`;
}

// ago is how long before now a time was: "5 min ago" ("in 5 min" ahead).
export function ago(v, now = Date.now()) {
  const d = parseTime(v);
  if (!d) return '';
  const sec = (now - d.getTime()) / 1000;
  if (sec < 0) return 'in ' + fmtSeconds(-sec);
  return fmtSeconds(sec) + ' ago';
}

// timeTag is a <time> element: the local time, the full value as title.
export function timeTag(v, relative = false) {
  const d = parseTime(v);
  if (!d) return '';
  const iso = d.toISOString();
  const text = relative ? ago(d) : fmtTime(d);
  return `<time datetime="${esc(iso)}" title="${esc(fmtTime(d))}">${esc(text)}</time>`;
}

// fmtMs is a duration in milliseconds: "0.6 ms", "12 ms", "1.5 s".
export function fmtMs(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '';
  if (ms < 10) return `${Math.round(ms * 100) / 100} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${Math.round(ms / 100) / 10} s`;
}

// fmtNum is a metric value, at most 4 significant digits.
export function fmtNum(v) {
  if (v === null || v === undefined || !isFinite(v)) return '';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

// fmtMetrics is a probe's metrics, "latency_ms=1.2 size=40", sorted.
export function fmtMetrics(m) {
  if (!m) return '';
  return Object.keys(m).sort().map((k) => `${k}=${fmtNum(m[k])}`).join(' ');
}

// blockedBy reads the check a blocked probe waits on from its error,
// "blocked by systemd.core (critical)": {check, status}, or null.
export function blockedBy(err) {
  if (!err) return null;
  const m = /^blocked by (.+?)(?: \(([a-z]+)\))?$/.exec(err);
  if (!m) return null;
  return { check: m[1], status: m[2] || '' };
}

// Hash routes. Every part is URL-encoded, so a check address such as
// http.a["x"] or a node name with a slash survives the trip.
export function nodeHref(node) {
  return '#/node/' + encodeURIComponent(node);
}

export function checkHref(node, check) {
  return '#/check/' + encodeURIComponent(node) + '/' + encodeURIComponent(check);
}

// query builds a query string from an object, leaving out empty values.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

// mostCommon is the value that occurs most often (ties: the smallest), or ''.
export function mostCommon(values) {
  const counts = new Map();
  for (const v of values) {
    if (v) counts.set(v, (counts.get(v) || 0) + 1);
  }
  let best = '';
  let n = 0;
  for (const [v, c] of counts) {
    if (c > n || (c === n && v < best)) {
      best = v;
      n = c;
    }
  }
  return best;
}

// counts is how often each value occurs, most frequent first: [[v, n]].
export function counts(values) {
  const m = new Map();
  for (const v of values) m.set(v, (m.get(v) || 0) + 1);
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

// byName compares strings the way people read node names: node-2 < node-10.
const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
export function byName(a, b) {
  return collator.compare(a, b);
}

// throttle makes fn run at most once per ms milliseconds, never two at
// once, and always once more after the last call: a burst of events makes
// one fetch at once and one at the end, whatever its length.
export function throttle(fn, ms) {
  let timer = null;
  let running = false;
  let again = false;
  let last = 0;
  let dead = false;
  async function run() {
    timer = null;
    if (dead) return;
    running = true;
    last = Date.now();
    try {
      await fn();
    } catch (e) {
      // the function reports its own errors; a throttle must not stop
      console.error(e);
    } finally {
      running = false;
      if (again && !dead) {
        again = false;
        trigger();
      }
    }
  }
  function trigger() {
    if (dead || timer) return;
    if (running) {
      again = true;
      return;
    }
    timer = setTimeout(run, Math.max(0, last + ms - Date.now()));
  }
  trigger.cancel = () => {
    dead = true;
    clearTimeout(timer);
    timer = null;
  };
  return trigger;
}

// parseRoute reads a location hash: {name, params (URLSearchParams), node,
// check}. Routes: "#/" cluster, "#/node/NAME", "#/check/NODE/ADDR",
// "#/history?filters", "#/silences", "#/signout"; anything else is
// "notfound". Each path part is URL-decoded.
export function parseRoute(hash) {
  let h = hash && hash[0] === '#' ? hash.slice(1) : hash || '';
  let qs = '';
  const q = h.indexOf('?');
  if (q >= 0) {
    qs = h.slice(q + 1);
    h = h.slice(0, q);
  }
  const parts = h.split('/').filter((p) => p !== '');
  let dec;
  try {
    dec = parts.map(decodeURIComponent);
  } catch {
    return { name: 'notfound', params: new URLSearchParams() };
  }
  const params = new URLSearchParams(qs);
  if (dec.length === 0) return { name: 'cluster', params };
  switch (dec[0]) {
    case 'node':
      if (dec.length === 2) return { name: 'node', node: dec[1], params };
      break;
    case 'check':
      if (dec.length === 3) return { name: 'check', node: dec[1], check: dec[2], params };
      break;
    case 'history':
    case 'silences':
    case 'signout':
      if (dec.length === 1) return { name: dec[0], params };
      break;
  }
  return { name: 'notfound', params };
}

// ARROW is "→" for the eye and "to" for a screen reader.
export const ARROW = '<span aria-hidden="true">→</span><span class="visually-hidden">to</span>';
