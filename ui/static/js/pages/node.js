// pages/node.js: "#/node/NAME", one node. Its state from
// /v1/status?node=NAME (read from that node now, or its last known state,
// marked stale), then its checks as a table: status, check (a link to the
// check's page), error, since, last run, duration, metrics, flapping, the
// check a blocked probe waits on (a link), and the silence holding it back.
// Grouped by type, status or a label (labels come from this agent's
// /v1/checks). A check event of this node rewrites its row at once, and the
// node is refetched (at most once per 300 ms).

import * as api from '../api.js';
import {
  esc, badge, statusClass, timeTag, fmtMs, fmtMetrics, fmtSeconds, blockedBy, checkHref,
  query, rank, byName, isFailing, throttle,
} from '../format.js';
import { setHTML, showError, ignorable } from '../dom.js';

// the grouping outlives the page
const view = { group: 'type' };

const COLS = 10;

export function mount(root, route, ctx) {
  const name = route.node;
  ctx.title(name);
  root.innerHTML = `
<nav class="crumbs" aria-label="Breadcrumb"><a href="#/">Cluster</a> › <span aria-current="page">${esc(name)}</span></nav>
<section aria-labelledby="node-h">
  <h1 id="node-h">${esc(name)} <span class="node-status"></span></h1>
  <p class="error" role="alert" hidden></p>
  <dl class="facts"></dl>
  <p><a href="#/history${esc(query({ node: name }))}">State changes of ${esc(name)}</a></p>
</section>
<section aria-labelledby="probes-h">
  <h2 id="probes-h">Checks</h2>
  <form class="controls" aria-label="Group the checks">
    <label>Group by <select name="group"></select></label>
    <output name="count" class="muted"></output>
  </form>
  <div class="table-wrap"><table class="probes">
    <thead><tr>
      <th scope="col">Status</th><th scope="col">Check</th><th scope="col">Error</th>
      <th scope="col">Since</th><th scope="col">Last run</th><th scope="col">Duration</th>
      <th scope="col">Metrics</th><th scope="col">Flapping</th><th scope="col">Blocked by</th>
      <th scope="col">Silenced</th>
    </tr></thead>
    <tbody><tr><td colspan="${COLS}">Loading…</td></tr></tbody>
  </table></div>
</section>`;
  const statusEl = root.querySelector('.node-status');
  const errEl = root.querySelector('.error');
  const facts = root.querySelector('dl.facts');
  const form = root.querySelector('form.controls');
  const table = root.querySelector('table.probes');

  let n = null;
  let labels = new Map(); // check address -> its labels, from /v1/checks
  let dead = false;
  let optsHTML = '';

  async function loadNode() {
    let d;
    try {
      d = await api.get('/v1/status' + query({ node: name }), { signal: ctx.signal });
    } catch (e) {
      if (!ignorable(e)) {
        showError(errEl, e, e.status === 404 ? `No node ${name} in the cluster: ` : `Could not read ${name}: `);
      }
      return;
    }
    if (dead) return;
    showError(errEl, null);
    n = (d.nodes || [])[0] || null;
    ctx.updated();
    render();
  }

  async function loadChecks() {
    let list;
    try {
      list = await api.get('/v1/checks', { signal: ctx.signal });
    } catch {
      return; // grouping by label is then not offered
    }
    if (dead || !Array.isArray(list)) return;
    labels = new Map(list.map((c) => [c.address, c.labels || {}]));
    render();
  }

  const refetch = throttle(loadNode, 300);

  form.addEventListener('change', () => {
    view.group = form.elements.group.value;
    render();
  });
  form.addEventListener('submit', (e) => e.preventDefault());

  function groupOptions() {
    const keys = new Set();
    for (const l of labels.values()) for (const k of Object.keys(l)) keys.add(k);
    const opts = [['type', 'type'], ['status', 'status'], ['none', 'nothing']];
    for (const k of [...keys].sort(byName)) opts.push(['label:' + k, 'label ' + k]);
    const sel = form.elements.group;
    const html = opts.map(([v, t]) => `<option value="${esc(v)}">${esc(t)}</option>`).join('');
    if (optsHTML !== html) {
      sel.innerHTML = html;
      optsHTML = html;
    }
    sel.value = opts.some(([v]) => v === view.group) ? view.group : 'type';
    return sel.value;
  }

  function render() {
    if (dead) return;
    const group = groupOptions();
    if (!n) return;
    statusEl.innerHTML = badge(n.status || 'unknown');
    const ms = n.member_status;
    const tags = (ms && ms.tags) || {};
    const f = [];
    if (n.stale) f.push(['Stale', `<span class="stale"><span class="icon" aria-hidden="true">⚠</span> ${esc(n.stale_reason || 'yes')}</span>`]);
    f.push(['Member', ms ? `${badge(ms.status)} <span class="muted">${esc(ms.addr || '')}</span>` : '<span class="muted">no mesh</span>']);
    if (tags.role) f.push(['Role', esc(tags.role)]);
    const other = Object.keys(tags).filter((k) => k !== 'role').sort();
    if (other.length) f.push(['Tags', other.map((k) => `<code>${esc(k)}=${esc(tags[k])}</code>`).join(' ')]);
    f.push(['Config hash', n.config_hash ? `<code>${esc(n.config_hash)}</code>` : '<span class="muted">none</span>']);
    if (n.version) f.push(['Version', esc(n.version)]);
    if (n.observed_at) f.push(['Observed', timeTag(n.observed_at)]);
    if (n.data_age_seconds !== undefined) f.push(['Data age', esc(fmtSeconds(n.data_age_seconds))]);
    if (n.peer_answered !== undefined) f.push(['Peer endpoint', n.peer_answered ? 'answered' : '<strong>did not answer</strong>']);
    facts.innerHTML = f.map(([k, v]) => `<div><dt>${k}</dt><dd>${v}</dd></div>`).join('');

    const probes = n.probes || [];
    const failing = probes.filter((p) => isFailing(p.status)).length;
    form.elements.count.value = `${probes.length} check${probes.length === 1 ? '' : 's'}, ${failing} failing`;
    const groups = new Map();
    for (const p of probes) {
      const g = groupOf(p, group);
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(p);
    }
    const keys = [...groups.keys()].sort(group === 'status' ? (a, b) => rank(a) - rank(b) : groupOrder);
    const bodies = [];
    for (const k of keys) {
      const rows = groups.get(k).sort((a, b) => rank(a.status) - rank(b.status) || byName(a.checker, b.checker));
      const head = group === 'none' ? '' :
        `<tr class="group"><th scope="rowgroup" colspan="${COLS}">${esc(k)} <span class="muted">(${rows.length})</span></th></tr>`;
      bodies.push(`<tbody>${head}${rows.map((p) => row(name, p)).join('')}</tbody>`);
    }
    if (!probes.length) bodies.push(`<tbody><tr><td colspan="${COLS}" class="muted">No check has run on ${esc(name)} yet.</td></tr></tbody>`);
    const thead = table.querySelector('thead').outerHTML;
    setHTML(table, thead + bodies.join(''));
  }

  function groupOf(p, group) {
    if (group === 'type') return p.type || '(no type)';
    if (group === 'status') return p.status || 'unknown';
    if (group.startsWith('label:')) {
      const k = group.slice(6);
      const l = labels.get(p.checker);
      return l && l[k] !== undefined ? `${k}=${l[k]}` : `no ${k}`;
    }
    return '';
  }

  // A check event of this node: rewrite its row now.
  function onCheck(ev) {
    if (!n || !ev || ev.node !== name) return;
    const p = (n.probes || []).find((x) => x.checker === ev.check);
    if (!p) return;
    p.status = ev.status;
    p.error = ev.error || '';
    p.flapping = !!ev.flapping;
    p.since = ev.time;
    const tr = table.querySelector(`tr[data-check="${CSS.escape(ev.check)}"]`);
    if (tr) {
      const t = document.createElement('template');
      t.innerHTML = `<table><tbody>${row(name, p)}</tbody></table>`;
      tr.replaceWith(t.content.querySelector('tr'));
    }
  }

  loadNode();
  loadChecks();
  return {
    refresh() {
      refetch();
      loadChecks();
    },
    event(ev) {
      const d = ev.data || {};
      switch (ev.type) {
        case 'check':
          if (d.node === name) {
            onCheck(d);
            refetch();
          }
          break;
        case 'member':
        case 'status':
        case 'digest':
          if (d.node === name) refetch();
          break;
        case 'config_hash':
          if (d.node === name) {
            refetch();
            loadChecks();
          }
          break;
      }
    },
    unmount() {
      dead = true;
      refetch.cancel();
    },
  };
}

function groupOrder(a, b) {
  // "no KEY" and "(no type)" last
  const na = a.startsWith('no ') || a.startsWith('(');
  const nb = b.startsWith('no ') || b.startsWith('(');
  if (na !== nb) return na ? 1 : -1;
  return byName(a, b);
}

function row(node, p) {
  const st = p.status || 'unknown';
  const by = p.status === 'blocked' ? blockedBy(p.error) : null;
  const detail = p.detail ? `<details><summary>detail</summary><pre>${esc(p.detail)}</pre></details>` : '';
  const blocked = by
    ? `<a href="${esc(checkHref(node, by.check))}" data-fk="by:${esc(p.checker)}">${esc(by.check)}</a>` +
      (by.status ? ` ${badge(by.status)}` : '')
    : '';
  const silenced = p.silenced
    ? `<a href="#/silences" title="${esc(p.silence_id || '')}">silenced</a>`
    : '';
  return `<tr data-testid="probe-row" data-check="${esc(p.checker)}" data-status="${esc(st)}" class="${statusClass(st)}">` +
    `<td>${badge(st)}</td>` +
    `<th scope="row"><a href="${esc(checkHref(node, p.checker))}" data-fk="chk:${esc(p.checker)}">${esc(p.checker)}</a></th>` +
    `<td class="err">${esc(p.error || '')}${detail}</td>` +
    `<td>${timeTag(p.since, true)}</td>` +
    `<td>${timeTag(p.last_run, true)}</td>` +
    `<td class="num">${esc(fmtMs(p.duration_ms))}</td>` +
    `<td class="metrics">${esc(fmtMetrics(p.metrics))}</td>` +
    `<td>${p.flapping ? '<strong class="flap"><span class="icon" aria-hidden="true">↯</span> flapping</strong>' : ''}</td>` +
    `<td>${blocked}</td>` +
    `<td>${silenced}</td>` +
    '</tr>';
}
