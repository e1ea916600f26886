// pages/check.js: "#/check/NODE/ADDR", one check of one node. Its current
// state (/v1/status?node=NODE), its state changes over a range as a band
// coloured by status and as a list (/v1/history), its last errors, one
// chart per metric (/v1/history/results: min..max band, avg line, warn and
// crit lines from the check's thresholds), and its config as this agent
// compiled it (/v1/checks?check=ADDR). Results live in each node's own
// history: for another node's check the answer is empty, and the page says
// so instead of drawing empty charts.

import * as api from '../api.js';
import {
  esc, badge, statusClass, timeTag, fmtTime, fmtSeconds, fmtNum, fmtMs, fmtMetrics, parseTime,
  checkHref, nodeHref, query, byName, throttle, blockedBy, ARROW,
} from '../format.js';
import { showError, ignorable, errText } from '../dom.js';
import { loadUPlot, metricChart } from '../chart.js';

// label, the API's since, seconds
const RANGES = [
  ['1h', '1h', 3600],
  ['24h', '24h', 86400],
  ['7d', '168h', 7 * 86400],
];
const view = { range: '1h' };
const HISTORY_LIMIT = 1000;
const MAX_ERRORS = 10;

export function mount(root, route, ctx) {
  const node = route.node;
  const addr = route.check;
  const serving = ctx.session.node || '';
  ctx.title(`${addr} on ${node}`);
  root.innerHTML = `
<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Cluster</a> › <a href="${esc(nodeHref(node))}">${esc(node)}</a> › <span aria-current="page">${esc(addr)}</span></nav>
<h1><code>${esc(addr)}</code> <span class="muted">on</span> ${esc(node)}</h1>
<p class="now">Loading…</p>
<p class="error" role="alert" hidden></p>
<div class="range" role="group" aria-label="Time range">
  ${RANGES.map(([k]) => `<button type="button" data-range="${k}" aria-pressed="false">${k}</button>`).join('')}
</div>
<div class="check-grid">
  <div class="check-main">
    <section aria-labelledby="tl-h">
      <h2 id="tl-h">State changes</h2>
      <p class="error tl-error" role="alert" hidden></p>
      <div class="band-wrap"></div>
      <ol class="timeline" reversed></ol>
    </section>
    <section aria-labelledby="ch-h">
      <h2 id="ch-h">Metrics</h2>
      <p class="error ch-error" role="alert" hidden></p>
      <p class="runs muted"></p>
      <div class="charts"></div>
    </section>
    <section aria-labelledby="er-h">
      <h2 id="er-h">Last errors</h2>
      <ul class="errors"></ul>
    </section>
  </div>
  <aside class="check-config" aria-labelledby="cf-h">
    <h2 id="cf-h">Configuration</h2>
    <p class="muted">As this agent (${esc(serving)}) compiled it.</p>
    <p class="error cf-error" role="alert" hidden></p>
    <dl class="facts config"></dl>
  </aside>
</div>`;
  const nowEl = root.querySelector('.now');
  const errEl = root.querySelector('.error');
  const rangeEl = root.querySelector('.range');
  const tlErr = root.querySelector('.tl-error');
  const bandWrap = root.querySelector('.band-wrap');
  const timeline = root.querySelector('ol.timeline');
  const chErr = root.querySelector('.ch-error');
  const runsEl = root.querySelector('.runs');
  const chartsEl = root.querySelector('.charts');
  const errorsEl = root.querySelector('ul.errors');
  const cfErr = root.querySelector('.cf-error');
  const configEl = root.querySelector('dl.config');

  let dead = false;
  let probe = null;
  let config; // undefined: not read yet; null: none here
  let hist = null;
  let results = null;
  let charts = [];
  let chartGen = 0;

  function range() {
    return RANGES.find(([k]) => k === view.range) || RANGES[1];
  }

  function pressRange() {
    for (const b of rangeEl.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.range === view.range));
  }
  pressRange();
  rangeEl.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-range]');
    if (!b || b.dataset.range === view.range) return;
    view.range = b.dataset.range;
    pressRange();
    loadHistory();
    loadResults();
  });

  async function loadProbe() {
    try {
      const d = await api.get('/v1/status' + query({ node }), { signal: ctx.signal });
      if (dead) return;
      const n = (d.nodes || [])[0];
      probe = n ? (n.probes || []).find((p) => p.checker === addr) || null : null;
      showError(errEl, null);
      ctx.updated();
      renderProbe(n);
      if (hist && !hist.length) renderTimeline();
    } catch (e) {
      if (!ignorable(e)) showError(errEl, e, `Could not read ${node}: `);
    }
  }

  async function loadConfig() {
    try {
      const list = await api.get('/v1/checks' + query({ check: addr }), { signal: ctx.signal });
      if (dead) return;
      config = (Array.isArray(list) ? list : [list]).find((c) => c && c.address === addr) || null;
      showError(cfErr, null);
    } catch (e) {
      if (ignorable(e)) return;
      config = null;
      if (e.status !== 404) showError(cfErr, e, 'Could not read /v1/checks: ');
    }
    renderConfig();
    renderCharts();
  }

  async function loadHistory() {
    const [label, since] = range();
    try {
      const h = await api.get('/v1/history' + query({ node, check: addr, since, limit: HISTORY_LIMIT }), { signal: ctx.signal });
      if (dead || label !== view.range) return;
      hist = Array.isArray(h) ? h : [];
      showError(tlErr, null);
      ctx.updated();
    } catch (e) {
      if (ignorable(e)) return;
      hist = null;
      showError(tlErr, e, 'Could not read the history: ');
    }
    renderTimeline();
    renderErrors();
  }

  async function loadResults() {
    const [label, since] = range();
    try {
      const r = await api.get('/v1/history/results' + query({ node, check: addr, since }), { signal: ctx.signal });
      if (dead || label !== view.range) return;
      results = r;
      showError(chErr, null);
    } catch (e) {
      if (ignorable(e)) return;
      results = null;
      showError(chErr, e, 'Could not read the results: ');
    }
    renderCharts();
  }

  function renderProbe(n) {
    if (!n) {
      nowEl.innerHTML = `No node <strong>${esc(node)}</strong> in the cluster.`;
      return;
    }
    if (!probe) {
      nowEl.innerHTML = `${esc(node)} has no check <code>${esc(addr)}</code> now.`;
      return;
    }
    const parts = [badge(probe.status)];
    if (probe.since) parts.push(`since ${timeTag(probe.since)} (${esc(fmtSeconds((Date.now() - parseTime(probe.since)) / 1000))})`);
    if (probe.flapping) parts.push('<strong class="flap"><span class="icon" aria-hidden="true">↯</span> flapping</strong>');
    if (probe.silenced) parts.push('<a href="#/silences">silenced</a>');
    if (probe.last_run) parts.push(`last run ${timeTag(probe.last_run, true)}${probe.duration_ms !== undefined ? ', took ' + esc(fmtMs(probe.duration_ms)) : ''}`);
    if (probe.metrics) parts.push(`<span class="metrics">${esc(fmtMetrics(probe.metrics))}</span>`);
    if (n.stale) parts.push(`<span class="stale"><span class="icon" aria-hidden="true">⚠</span> node data stale: ${esc(n.stale_reason || '')}</span>`);
    let err = '';
    if (probe.error) {
      const by = probe.status === 'blocked' ? blockedBy(probe.error) : null;
      err = by
        ? `<br>blocked by <a href="${esc(checkHref(node, by.check))}">${esc(by.check)}</a>${by.status ? ' ' + badge(by.status) : ''}`
        : `<br><span class="err">${esc(probe.error)}</span>`;
    }
    nowEl.innerHTML = parts.join(' · ') + err;
  }

  function renderConfig() {
    if (config === undefined) return;
    if (!config) {
      configEl.innerHTML = `<div><dt>Not here</dt><dd>This agent has no check <code>${esc(addr)}</code>: ${esc(node)} may run another config.</dd></div>`;
      return;
    }
    const c = config;
    const rows = [];
    const list = (a, f) => (a && a.length ? a.map(f).join(', ') : '<span class="muted">none</span>');
    rows.push(['Type', esc(c.type)]);
    if (c.interval_seconds !== undefined) rows.push(['Interval', esc(fmtSeconds(c.interval_seconds))]);
    if (c.timeout_seconds !== undefined) rows.push(['Timeout', esc(fmtSeconds(c.timeout_seconds))]);
    if (c.runs !== undefined) rows.push(['Runs on this agent', c.runs ? 'yes' : 'no']);
    rows.push(['Depends on', list(c.depends_on, (d) => `<a href="${esc(checkHref(node, d))}">${esc(d)}</a>`)]);
    const labels = Object.keys(c.labels || {}).sort(byName);
    rows.push(['Labels', labels.length ? labels.map((k) => `<code>${esc(k)}=${esc(c.labels[k])}</code>`).join(' ') : '<span class="muted">none</span>']);
    rows.push(['Notify', list(c.notify, (x) => `<code>${esc(x)}</code>`)]);
    if (c.sinks) rows.push(['Sinks', list(c.sinks, (x) => `<code>${esc(x)}</code>`)]);
    if (c.failures_before_critical !== undefined) rows.push(['Failures before critical', esc(c.failures_before_critical)]);
    if (c.successes_before_passing !== undefined) rows.push(['Successes before passing', esc(c.successes_before_passing)]);
    const th = c.thresholds || [];
    rows.push(['Thresholds', th.length
      ? `<table class="mini"><thead><tr><th scope="col">metric</th><th scope="col">warn</th><th scope="col">crit</th><th scope="col">when</th></tr></thead><tbody>` +
        th.map((t) => `<tr><th scope="row">${esc(t.metric)}</th><td>${esc(fmtNum(t.warn))}</td><td>${esc(fmtNum(t.crit))}</td><td>${esc(t.direction || 'above')}</td></tr>`).join('') +
        '</tbody></table>'
      : '<span class="muted">none</span>']);
    if (c.file) rows.push(['Defined at', `<code>${esc(c.file)}${c.line ? ':' + esc(c.line) : ''}</code>`]);
    configEl.innerHTML = rows.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${v}</dd></div>`).join('');
  }

  function renderTimeline() {
    const [label, , secs] = range();
    if (!hist) {
      bandWrap.innerHTML = '';
      timeline.innerHTML = '';
      return;
    }
    const now = Date.now();
    const start = now - secs * 1000;
    const segs = segments(hist, start, now, probe ? probe.status : '');
    const rects = segs.map((s) => {
      const x = ((s.from - start) / (now - start)) * 1000;
      const w = Math.max(0.5, ((s.to - s.from) / (now - start)) * 1000);
      return `<rect x="${x.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="20" class="${statusClass(s.status)}">` +
        `<title>${esc(s.status)} from ${esc(fmtTime(new Date(s.from)))} to ${esc(fmtTime(new Date(s.to)))}</title></rect>`;
    }).join('');
    const words = segs.map((s) => s.status);
    const said = [...new Set(words)].join(', ');
    bandWrap.innerHTML =
      `<svg class="band" viewBox="0 0 1000 20" preserveAspectRatio="none" role="img" aria-label="${esc(`status over the last ${label}: ${said}`)}">${rects}</svg>` +
      `<div class="band-axis muted"><span>${esc(fmtTime(new Date(start)))}</span><span>now</span></div>` +
      `<p class="legend muted">${[...new Set(words)].map((s) => badge(s)).join(' ')}</p>`;
    if (!hist.length) {
      timeline.innerHTML = `<li class="muted">No state change in the last ${esc(label)}.</li>`;
      return;
    }
    const more = hist.length >= HISTORY_LIMIT ? `<li class="muted">Only the newest ${HISTORY_LIMIT} changes are shown.</li>` : '';
    timeline.innerHTML = hist.map((e) =>
      `<li data-testid="timeline-item" data-status="${esc(e.status)}">${timeTag(e.time)} ` +
      `${e.previous ? badge(e.previous) + ' ' + ARROW + ' ' : ''}${badge(e.status)}` +
      (e.error ? ` <span class="err">${esc(e.error)}</span>` : '') + '</li>').join('') + more;
  }

  function renderErrors() {
    const errs = (hist || []).filter((e) => e.error && e.status !== 'passing').slice(0, MAX_ERRORS);
    if (!errs.length) {
      errorsEl.innerHTML = `<li class="muted">No error in the last ${esc(range()[0])}.</li>`;
      return;
    }
    errorsEl.innerHTML = errs.map((e) =>
      `<li>${timeTag(e.time)} ${badge(e.status)} <span class="err">${esc(e.error)}</span></li>`).join('');
  }

  function thresholds() {
    const m = new Map();
    for (const t of (config && config.thresholds) || []) m.set(t.metric, t);
    return m;
  }

  function destroyCharts() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  async function renderCharts() {
    const my = ++chartGen;
    if (results === null || results === undefined) {
      destroyCharts();
      chartsEl.innerHTML = '';
      runsEl.textContent = '';
      return;
    }
    if (config === undefined) return; // wait for the thresholds
    const r = results;
    const times = r.times || [];
    const label = range()[0];
    if (!times.length) {
      destroyCharts();
      runsEl.textContent = '';
      chartsEl.innerHTML = node === serving || !serving
        ? `<p class="empty">No run of <code>${esc(addr)}</code> in the last ${esc(label)} in this agent's history.</p>`
        : `<p class="empty">No results here: each node keeps its own runs, and this page is served by <strong>${esc(serving)}</strong>, ` +
          `whose history holds none of <strong>${esc(node)}</strong>'s. Open the dashboard of ${esc(node)} to see the charts of its checks, ` +
          `or see <a href="${esc(checkHref(serving, addr))}"><code>${esc(addr)}</code> on ${esc(serving)}</a>.</p>`;
      return;
    }
    const runs = (r.runs || []).reduce((a, b) => a + b, 0);
    const failing = (r.failing || []).reduce((a, b) => a + b, 0);
    runsEl.textContent = `${runs} run${runs === 1 ? '' : 's'} in the last ${label}, ${failing} failing` +
      (r.step_seconds ? `; each point is ${fmtSeconds(r.step_seconds)}` : '') + '.';
    const metrics = Object.keys(r.metrics || {}).sort(byName);
    if (!metrics.length) {
      destroyCharts();
      chartsEl.innerHTML = `<p class="empty"><code>${esc(addr)}</code> reports no metrics.</p>`;
      return;
    }
    const th = thresholds();
    destroyCharts();
    chartsEl.innerHTML = metrics.map((m) => {
      const t = th.get(m) || {};
      const s = r.metrics[m];
      const vals = (s.avg || []).filter((v) => v !== null);
      const lo = Math.min(...(s.min || []).filter((v) => v !== null));
      const hi = Math.max(...(s.max || []).filter((v) => v !== null));
      const avg = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
      const tinfo = [];
      if (isFinite(t.warn)) tinfo.push(`warn ${esc(fmtNum(t.warn))}`);
      if (isFinite(t.crit)) tinfo.push(`crit ${esc(fmtNum(t.crit))}`);
      const dir = tinfo.length ? ` (${esc(t.direction || 'above')})` : '';
      return `<figure class="chart" data-testid="chart" data-metric="${esc(m)}"` +
        (isFinite(t.warn) ? ` data-warn="${esc(t.warn)}"` : '') +
        (isFinite(t.crit) ? ` data-crit="${esc(t.crit)}"` : '') +
        (tinfo.length ? ` data-direction="${esc(t.direction || 'above')}"` : '') + '>' +
        `<figcaption><strong>${esc(m)}</strong> ` +
        (tinfo.length ? `<span class="thresholds" data-testid="threshold">${tinfo.join(' · ')}${dir}</span> ` : '') +
        `<span class="muted">min ${esc(fmtNum(lo))} · avg ${esc(fmtNum(avg))} · max ${esc(fmtNum(hi))}</span></figcaption>` +
        '<div class="plot"></div></figure>';
    }).join('');
    let uPlot;
    try {
      uPlot = await loadUPlot();
    } catch (e) {
      if (!dead) showError(chErr, e, 'Charts unavailable: ');
      return;
    }
    if (dead || my !== chartGen) return; // a newer render took over
    const figs = chartsEl.querySelectorAll('figure.chart');
    figs.forEach((fig) => {
      const m = fig.dataset.metric;
      const t = th.get(m) || {};
      const s = r.metrics[m];
      const plot = fig.querySelector('.plot');
      try {
        charts.push(metricChart(uPlot, plot, {
          times, min: s.min || [], avg: s.avg || [], max: s.max || [],
          step: r.step_seconds || 0,
          since: toSec(r.since, times[0]), until: toSec(r.until, times[times.length - 1]),
          warn: t.warn, crit: t.crit, width: Math.max(200, plot.clientWidth || fig.clientWidth || 600),
        }));
      } catch (e) {
        plot.textContent = 'This chart could not be drawn: ' + errText(e);
      }
    });
  }

  const onResize = throttle(async () => {
    for (const c of charts) {
      const w = c.root.parentElement ? c.root.parentElement.clientWidth : 0;
      if (w) c.setSize({ width: w, height: c.height });
    }
  }, 150);
  window.addEventListener('resize', onResize);
  const scheme = window.matchMedia('(prefers-color-scheme: dark)');
  const onScheme = () => renderCharts();
  scheme.addEventListener('change', onScheme);

  const refetch = throttle(() => Promise.all([loadProbe(), loadHistory(), loadResults()]), 300);
  // Results change with every run, not only with a state change.
  const poll = setInterval(loadResults, 60000);

  loadProbe();
  loadConfig();
  loadHistory();
  loadResults();

  return {
    refresh() {
      refetch();
      loadConfig();
    },
    event(ev) {
      const d = ev.data || {};
      if (ev.type === 'check' && d.node === node && d.check === addr) refetch();
      else if ((ev.type === 'digest' || ev.type === 'status') && d.node === node && node !== serving) loadProbe();
      else if (ev.type === 'config_hash' && d.node === serving) loadConfig();
    },
    unmount() {
      dead = true;
      refetch.cancel();
      onResize.cancel();
      clearInterval(poll);
      window.removeEventListener('resize', onResize);
      scheme.removeEventListener('change', onScheme);
      destroyCharts();
    },
  };
}

function toSec(v, fallback) {
  const d = parseTime(v);
  return d ? d.getTime() / 1000 : fallback;
}

// segments cuts [start, now] (ms) into spans of one status from the state
// changes (newest first): before the oldest change, its previous status.
export function segments(hist, start, now, current) {
  const ents = [...hist].reverse();
  const segs = [];
  let cur = ents.length ? ents[0].previous || 'unknown' : current || 'unknown';
  let t = start;
  for (const e of ents) {
    const d = parseTime(e.time);
    if (!d) continue;
    const et = Math.min(now, Math.max(start, d.getTime()));
    if (et > t) segs.push({ from: t, to: et, status: cur });
    cur = e.status || 'unknown';
    t = Math.max(t, et);
  }
  if (now > t) segs.push({ from: t, to: now, status: cur });
  return segs;
}
