// pages/history.js: "#/history", the state changes this agent saw, newest
// first (/v1/history): its own checks' and the cluster's (mesh.member,
// mesh.node, mesh.config). Filters: node, check, the status changed to, and
// since (1 h, 24 h, 7 d, all, or an RFC 3339 time). The filters live in the
// location hash ("#/history?node=a&since=1h"), so a view can be linked.

import * as api from '../api.js';
import { esc, badge, timeTag, checkHref, nodeHref, query, byName, parseTime, throttle, ARROW } from '../format.js';
import { setHTML, showError, ignorable } from '../dom.js';

const SINCE = [
  ['1h', 'last hour'],
  ['24h', 'last 24 hours'],
  ['168h', 'last 7 days'],
  ['0', 'all kept'],
];
const STATUSES = [
  ['checks', ['passing', 'warning', 'critical', 'blocked', 'unknown']],
  ['nodes', ['healthy', 'degraded']],
  ['members', ['alive', 'failed', 'leaving', 'left', 'reaped', 'updated']],
];
const LIMITS = ['100', '500', '1000', '10000'];

export function mount(root, route, ctx) {
  ctx.title('History');
  const p = route.params;
  const f = {
    node: p.get('node') || '',
    check: p.get('check') || '',
    status: p.get('status') || '',
    since: p.get('since') || '24h',
    limit: LIMITS.includes(p.get('limit')) ? p.get('limit') : '100',
  };
  const preset = SINCE.some(([v]) => v === f.since);
  root.innerHTML = `
<h1>History</h1>
<form class="controls" aria-label="Filter the state changes">
  <label>Node <input name="node" list="hist-nodes" autocomplete="off" spellcheck="false" value="${esc(f.node)}"></label>
  <datalist id="hist-nodes"></datalist>
  <label>Check <input name="check" autocomplete="off" spellcheck="false" placeholder="http.api" value="${esc(f.check)}"></label>
  <label>Changed to
    <select name="status"><option value="">any status</option>${STATUSES.map(([g, l]) =>
    `<optgroup label="${g}">${l.map((s) => `<option value="${s}">${s}</option>`).join('')}</optgroup>`).join('')}</select></label>
  <label>Since
    <select name="since">${SINCE.map(([v, t]) => `<option value="${v}">${t}</option>`).join('')}<option value="custom">a time…</option></select></label>
  <label class="custom"${preset ? ' hidden' : ''}>From (RFC 3339)
    <input name="custom" autocomplete="off" spellcheck="false" placeholder="2026-11-25T12:00:00Z" value="${esc(preset ? '' : f.since)}"></label>
  <label>At most
    <select name="limit">${LIMITS.map((l) => `<option value="${l}">${l}</option>`).join('')}</select></label>
  <button type="submit">Apply</button>
</form>
<p class="error" role="alert" hidden></p>
<p class="count muted" aria-live="polite"></p>
<div class="table-wrap"><table class="history">
  <thead><tr><th scope="col">Time</th><th scope="col">Node</th><th scope="col">Check</th><th scope="col">Type</th>
  <th scope="col">Change</th><th scope="col">Error</th></tr></thead>
  <tbody><tr><td colspan="6">Loading…</td></tr></tbody>
</table></div>`;
  const form = root.querySelector('form.controls');
  const errEl = root.querySelector('.error');
  const countEl = root.querySelector('.count');
  const tbody = root.querySelector('table.history tbody');
  const customLabel = form.querySelector('label.custom');
  form.elements.status.value = f.status;
  form.elements.since.value = preset ? f.since : 'custom';
  form.elements.limit.value = f.limit;

  let dead = false;
  let seq = 0;

  function read() {
    const el = form.elements;
    customLabel.hidden = el.since.value !== 'custom';
    f.node = el.node.value.trim();
    f.check = el.check.value.trim();
    f.status = el.status.value;
    f.since = el.since.value === 'custom' ? el.custom.value.trim() : el.since.value;
    f.limit = el.limit.value;
  }

  function apply() {
    read();
    if (form.elements.since.value === 'custom' && !f.since) return; // wait for a time
    window.history.replaceState(null, '', '#/history' + query(f));
    load();
  }
  form.addEventListener('change', (e) => {
    if (e.target.name === 'since' && e.target.value === 'custom') {
      customLabel.hidden = false;
      form.elements.custom.focus();
      return;
    }
    apply();
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    apply();
  });

  async function load() {
    const my = ++seq;
    let list;
    try {
      list = await api.get('/v1/history' + query(f), { signal: ctx.signal });
    } catch (e) {
      if (ignorable(e) || my !== seq) return;
      showError(errEl, e, 'Could not read the history: ');
      tbody.innerHTML = '';
      countEl.textContent = '';
      return;
    }
    if (dead || my !== seq) return;
    showError(errEl, null);
    ctx.updated();
    list = Array.isArray(list) ? list : [];
    // newest first, as the API sends them; sorted again in case
    const t = (e) => (parseTime(e.time) || new Date(0)).getTime();
    list = list.map((e, i) => [e, i]).sort((a, b) => t(b[0]) - t(a[0]) || a[1] - b[1]).map(([e]) => e);
    const said = `${list.length} change${list.length === 1 ? '' : 's'}` +
      (String(list.length) === f.limit ? ` (the newest ${f.limit}; raise "At most" to see more)` : '') + '.';
    if (countEl.textContent !== said) countEl.textContent = said; // a live region: say it once
    if (!list.length) {
      tbody.innerHTML = '<tr><td colspan="6" class="muted">No state change matches.</td></tr>';
      return;
    }
    setHTML(tbody, list.map(row).join(''));
  }

  async function loadNodes() {
    try {
      const m = await api.get('/v1/members', { signal: ctx.signal });
      if (dead || !Array.isArray(m)) return;
      const names = m.map((x) => x.name).sort(byName);
      root.querySelector('#hist-nodes').innerHTML = names.map((n) => `<option value="${esc(n)}"></option>`).join('');
    } catch {
      // no suggestions
    }
  }

  const refetch = throttle(load, 500);
  load();
  loadNodes();
  return {
    refresh: refetch,
    event(ev) {
      if (ev.type === 'check' || ev.type === 'member' || ev.type === 'status' || ev.type === 'config_hash') refetch();
    },
    unmount() {
      dead = true;
      refetch.cancel();
    },
  };
}

function row(e) {
  const mesh = (e.check || '').startsWith('mesh.');
  const check = mesh || !e.node
    ? `<code>${esc(e.check)}</code>`
    : `<a href="${esc(checkHref(e.node, e.check))}"><code>${esc(e.check)}</code></a>`;
  const node = e.node ? `<a href="${esc(nodeHref(e.node))}">${esc(e.node)}</a>` : '';
  return `<tr data-testid="history-row" data-status="${esc(e.status)}" data-node="${esc(e.node)}" data-check="${esc(e.check)}">` +
    `<td>${timeTag(e.time)}</td><td>${node}</td><th scope="row">${check}</th><td>${esc(e.type)}</td>` +
    `<td>${e.previous ? badge(e.previous) + ' ' + ARROW + ' ' : ''}${badge(e.status)}</td>` +
    `<td class="err">${esc(e.error)}</td></tr>`;
}
