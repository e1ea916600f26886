// pages/cluster.js: "#/", the cluster. The summary of /v1/status, then one
// tile per node (a link to its page): its status as colour, icon and word,
// its member status and role, its failing checks, its config hash (marked
// "differs" when it is not the most common one: a rollout in progress or
// stuck), the age of its data, and why it is stale. Sort and filter
// controls; foreign members apart. Built for 500 nodes x 50 checks: the
// grid is one string set at once, and a refetch that keeps the order only
// rewrites the tiles that changed. Tiles are links: no listeners on them.

import * as api from '../api.js';
import { esc, badge, statusClass, fmtSeconds, timeTag, nodeHref, mostCommon, counts, byName, isFailing, rank, throttle } from '../format.js';
import { setHTML, setIfChanged, showError, ignorable, refocus, focusKey } from '../dom.js';

// The controls' state outlives the page, so that going back to the
// cluster from a node finds the same view.
const view = { sort: 'status', status: '', role: '', text: '' };

const NODE_RANK = { degraded: 0, unknown: 1, healthy: 2 };
const MAX_NAMES = 6;

export function mount(root, route, ctx) {
  ctx.title('Cluster');
  root.innerHTML = `
<section aria-labelledby="cluster-h">
  <h1 id="cluster-h">Cluster</h1>
  <p data-testid="cluster-summary" class="summary" aria-live="polite">Loading…</p>
  <p class="meta" id="cluster-meta"></p>
  <p class="error" role="alert" hidden></p>
</section>
<form class="controls" aria-label="Sort and filter the nodes">
  <label>Sort
    <select name="sort">
      <option value="status">status, worst first</option>
      <option value="name">name</option>
      <option value="age">data age, oldest first</option>
    </select></label>
  <label>Status
    <select name="status">
      <option value="">any</option>
      <option value="degraded">degraded</option>
      <option value="unknown">unknown</option>
      <option value="healthy">healthy</option>
      <option value="stale">stale</option>
      <option value="differs">config differs</option>
    </select></label>
  <label>Role
    <select name="role"><option value="">any</option></select></label>
  <label class="grow">Filter
    <input type="search" name="text" placeholder="name or label, e.g. zone=b" autocomplete="off" spellcheck="false"></label>
  <output name="shown" class="muted"></output>
</form>
<ul class="tiles" aria-label="Nodes"></ul>
<section class="foreign" aria-labelledby="foreign-h" hidden>
  <h2 id="foreign-h">Foreign members</h2>
  <p class="muted">Members of the serf pool that are not satellite agents: listed, never counted.</p>
  <ul></ul>
</section>`;
  const summary = root.querySelector('[data-testid="cluster-summary"]');
  const meta = root.querySelector('#cluster-meta');
  const errEl = root.querySelector('.error');
  const form = root.querySelector('form.controls');
  const grid = root.querySelector('ul.tiles');
  const foreign = root.querySelector('section.foreign');
  const shown = form.elements.shown;

  form.elements.sort.value = view.sort;
  form.elements.status.value = view.status;
  form.elements.text.value = view.text;

  let doc = null;
  let dead = false;
  // what the grid shows now: node names in order, and each tile's markup
  let shownNames = [];
  let shownHTML = [];
  let frame = 0;

  const refetch = throttle(load, 300);

  async function load() {
    let d;
    try {
      d = await api.get('/v1/status', { signal: ctx.signal });
    } catch (e) {
      if (!ignorable(e)) showError(errEl, e, 'Could not read /v1/status: ');
      return;
    }
    if (dead) return;
    showError(errEl, null);
    doc = d;
    ctx.updated();
    render();
  }

  function schedule() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      render();
    });
  }

  function onControls() {
    view.sort = form.elements.sort.value;
    view.status = form.elements.status.value;
    view.role = form.elements.role.value;
    view.text = form.elements.text.value;
    schedule();
  }
  form.addEventListener('input', onControls);
  form.addEventListener('change', onControls);
  form.addEventListener('submit', (e) => e.preventDefault());

  function render() {
    if (!doc || dead) return;
    const nodes = doc.nodes || [];
    const common = mostCommon(nodes.map((n) => n.config_hash));

    // the summary
    summary.className = 'summary ' + statusClass(doc.status);
    summary.dataset.status = doc.status || '';
    setIfChanged(summary, `${badge(doc.status)} <span class="summary-text">${esc(doc.summary || '')}</span>`);
    const byStatus = counts(nodes.map((n) => n.status || 'unknown'));
    const hashes = counts(nodes.map((n) => n.config_hash).filter(Boolean));
    const parts = [`${nodes.length} node${nodes.length === 1 ? '' : 's'}: ` +
      (byStatus.map(([s, c]) => `${c} ${esc(s)}`).join(', ') || 'none')];
    if (hashes.length > 1) {
      parts.push(`<strong class="skew">${hashes.length} config hashes</strong>: ` +
        hashes.map(([h, c]) => `<code>${esc(h)}</code> on ${c}`).join(', '));
    } else if (hashes.length === 1) {
      parts.push(`config <code>${esc(hashes[0][0])}</code> everywhere`);
    }
    if (doc.timestamp) parts.push(`as of ${timeTag(doc.timestamp)}`);
    setIfChanged(meta, parts.join(' · '));

    // the roles the nodes have
    const roles = [...new Set(nodes.map(role).filter(Boolean))].sort(byName);
    const roleSel = form.elements.role;
    const want = ['', ...roles];
    const have = [...roleSel.options].map((o) => o.value);
    if (want.join('\n') !== have.join('\n')) {
      roleSel.innerHTML = want.map((r) => `<option value="${esc(r)}">${r ? esc(r) : 'any'}</option>`).join('');
    }
    if (view.role && !roles.includes(view.role)) {
      // keep a chosen role that no node has any more, so the view says so
      roleSel.insertAdjacentHTML('beforeend', `<option value="${esc(view.role)}">${esc(view.role)}</option>`);
    }
    roleSel.value = view.role;

    // filter, sort, draw
    const tokens = view.text.toLowerCase().split(/\s+/).filter(Boolean);
    const list = nodes.filter((n) => keep(n, tokens, common));
    list.sort(order(view.sort));
    shown.value = list.length === nodes.length ? '' : `${list.length} of ${nodes.length} shown`;
    drawTiles(list, common, nodes.length);
    drawForeign(doc.foreign || []);
  }

  function keep(n, tokens, common) {
    switch (view.status) {
      case '':
        break;
      case 'stale':
        if (!n.stale) return false;
        break;
      case 'differs':
        if (!n.config_hash || n.config_hash === common) return false;
        break;
      default:
        if ((n.status || 'unknown') !== view.status) return false;
    }
    if (view.role && role(n) !== view.role) return false;
    if (tokens.length) {
      const hay = haystack(n);
      for (const t of tokens) if (!hay.includes(t)) return false;
    }
    return true;
  }

  function drawTiles(list, common, total) {
    const names = list.map((n) => n.name);
    const html = list.map((n) => tile(n, common));
    if (list.length === 0) {
      const msg = total === 0 ? 'No node yet.' : 'No node matches the filters.';
      grid.innerHTML = `<li class="empty">${msg}</li>`;
      shownNames = [];
      shownHTML = [];
      return;
    }
    const sameOrder = names.length === shownNames.length && names.every((x, i) => x === shownNames[i]) &&
      grid.children.length === names.length;
    if (sameOrder) {
      const fk = focusKey();
      for (let i = 0; i < html.length; i++) {
        if (html[i] !== shownHTML[i]) grid.children[i].innerHTML = html[i];
      }
      refocus(grid, fk);
    } else {
      setHTML(grid, html.map((h) => `<li>${h}</li>`).join(''));
    }
    shownNames = names;
    shownHTML = html;
  }

  function drawForeign(members) {
    foreign.hidden = members.length === 0;
    if (!members.length) return;
    const sorted = [...members].sort((a, b) => byName(a.name, b.name));
    foreign.querySelector('ul').innerHTML = sorted.map((m) =>
      `<li data-testid="foreign-member" data-node="${esc(m.name)}"><strong>${esc(m.name)}</strong> ` +
      `<span class="muted">${esc(m.addr || '')}</span> ${badge(m.status)}</li>`).join('');
  }

  // A check event is about one of this node's checks: update the tile at
  // once, then refetch the document for the truth.
  function onCheck(ev) {
    if (!doc || !ev) return;
    const n = (doc.nodes || []).find((x) => x.name === ev.node);
    if (n) {
      const p = (n.probes || []).find((x) => x.checker === ev.check);
      if (p) {
        p.status = ev.status;
        p.error = ev.error || '';
        p.flapping = !!ev.flapping;
        p.since = ev.time;
      } else {
        (n.probes = n.probes || []).push({ checker: ev.check, type: ev.type, status: ev.status, error: ev.error || '', since: ev.time });
      }
      if (!n.stale) {
        const bad = n.probes.some((x) => x.status === 'critical' || x.status === 'blocked');
        n.status = bad ? 'degraded' : n.probes.some((x) => x.status === 'unknown') ? n.status : 'healthy';
      }
      render();
    }
  }

  load();
  return {
    refresh: refetch,
    event(ev) {
      switch (ev.type) {
        case 'check':
          onCheck(ev.data);
          refetch();
          break;
        case 'member':
        case 'status':
        case 'config_hash':
        case 'digest':
          refetch();
          break;
      }
    },
    unmount() {
      dead = true;
      refetch.cancel();
      cancelAnimationFrame(frame);
    },
  };
}

function role(n) {
  const t = n.member_status && n.member_status.tags;
  return (t && t.role) || '';
}

const hayCache = new WeakMap();
function haystack(n) {
  let h = hayCache.get(n);
  if (h === undefined) {
    const t = (n.member_status && n.member_status.tags) || {};
    h = [n.name, ...Object.keys(t).map((k) => `${k}=${t[k]}`)].join(' ').toLowerCase();
    hayCache.set(n, h);
  }
  return h;
}

function order(sort) {
  const name = (a, b) => byName(a.name, b.name);
  if (sort === 'name') return name;
  if (sort === 'age') return (a, b) => (b.data_age_seconds || 0) - (a.data_age_seconds || 0) || name(a, b);
  return (a, b) => (NODE_RANK[a.status] ?? 1) - (NODE_RANK[b.status] ?? 1) || (b.stale ? 1 : 0) - (a.stale ? 1 : 0) || name(a, b);
}

function tile(n, common) {
  const status = n.status || 'unknown';
  const stale = !!n.stale;
  const ms = n.member_status;
  const r = role(n);
  const failing = (n.probes || []).filter((p) => isFailing(p.status));
  failing.sort((a, b) => rank(a.status) - rank(b.status) || byName(a.checker, b.checker));
  let fail = '';
  if (failing.length) {
    const names = failing.slice(0, MAX_NAMES).map((p) =>
      `<span class="chk ${statusClass(p.status)}" title="${esc(p.status)}${p.error ? ': ' + esc(p.error) : ''}">${esc(p.checker)}</span>`);
    const more = failing.length > MAX_NAMES ? ` <span class="muted">and ${failing.length - MAX_NAMES} more</span>` : '';
    fail = `<span class="tile-row fails"><span class="k">failing ${failing.length}:</span> ${names.join(', ')}${more}</span>`;
  } else if ((n.probes || []).length) {
    fail = `<span class="tile-row muted">${n.probes.length} check${n.probes.length === 1 ? '' : 's'}, none failing</span>`;
  }
  const differs = n.config_hash && common && n.config_hash !== common;
  const hash = n.config_hash
    ? `<code>${esc(n.config_hash)}</code>${differs ? ` <mark class="differs" title="most nodes run ${esc(common)}">differs</mark>` : ''}`
    : '<span class="muted">none</span>';
  const age = n.data_age_seconds !== undefined && n.data_age_seconds !== null ? fmtSeconds(n.data_age_seconds) : '';
  return `<a class="tile ${statusClass(status)}${stale ? ' is-stale' : ''}${differs ? ' is-differs' : ''}" href="${esc(nodeHref(n.name))}" ` +
    `data-testid="node-tile" data-node="${esc(n.name)}" data-status="${esc(status)}" data-stale="${stale}" data-fk="node:${esc(n.name)}">` +
    `<span class="tile-head"><span class="tile-name">${esc(n.name)}</span> ${badge(status)}</span>` +
    (stale ? `<span class="tile-row stale"><span class="icon" aria-hidden="true">⚠</span> stale: ${esc(n.stale_reason || 'unknown reason')}</span>` : '') +
    `<span class="tile-row"><span class="k">member</span> ${ms ? esc(ms.status) : '<span class="muted">no mesh</span>'}` +
    (r ? ` · <span class="k">role</span> ${esc(r)}` : '') + '</span>' +
    `<span class="tile-row"><span class="k">config</span> ${hash}</span>` +
    (age ? `<span class="tile-row"><span class="k">data age</span> ${esc(age)}</span>` : '') +
    fail +
    '</a>';
}
