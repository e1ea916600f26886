// pages/silences.js: "#/silences". The silences from /v1/silences (with
// ?expired=1 also the ended ones still kept), a form to make one (POST) and
// an Expire button per active silence (DELETE /v1/silences/ID). With the
// read token (/v1/session access "read") the form is hidden and the
// buttons disabled. A failed request shows the API's own error text.

import * as api from '../api.js';
import { esc, timeTag, parseTime, query, ago } from '../format.js';
import { setHTML, showError, ignorable, onSubmit } from '../dom.js';

const view = { expired: false };
const DURATIONS = ['30m', '1h', '2h', '4h', '8h', '24h', '72h', '168h'];

export function mount(root, route, ctx) {
  ctx.title('Silences');
  const readOnly = ctx.session.access === 'read';
  root.innerHTML = `
<h1>Silences</h1>
<p class="muted">A silence holds back the notifications about the checks its globs match, on every node, until it ends.</p>
<p class="notice readonly"${readOnly ? '' : ' hidden'}>Your token is the read token: you can see the silences, not make or end them.</p>
<section aria-labelledby="new-h"${readOnly ? ' hidden' : ''}>
  <h2 id="new-h">New silence</h2>
  <dialog open class="form-host" aria-labelledby="new-h">
  <form class="silence-form" data-testid="silence-form" method="dialog">
    <label>Node (glob) <input name="node" value="*" required autocomplete="off" spellcheck="false"></label>
    <label>Check (glob) <input name="check" value="*" required autocomplete="off" spellcheck="false"></label>
    <label>Duration <input name="duration" value="2h" required list="sil-durations" autocomplete="off" spellcheck="false" aria-describedby="sil-dur-help"></label>
    <datalist id="sil-durations">${DURATIONS.map((d) => `<option value="${d}"></option>`).join('')}</datalist>
    <label>Author <input name="author" required maxlength="64" autocomplete="off"></label>
    <label class="grow">Reason <input name="reason" required maxlength="160" autocomplete="off"></label>
    <label class="all"><input type="checkbox" name="all"> every check on every node</label>
    <button type="submit">Create silence</button>
    <p id="sil-dur-help" class="muted help">Duration: a Go duration from 1m to 2160h, such as 90m, 2h or 48h (there is no d unit).
      Both globs * silence everything: tick the box to confirm.</p>
    <p class="error form-error" role="alert" data-testid="silence-error" hidden></p>
  </form>
  </dialog>
</section>
<section aria-labelledby="list-h">
  <h2 id="list-h">Silences</h2>
  <form class="controls" aria-label="Which silences">
    <label><input type="checkbox" name="expired"> also those that ended</label>
  </form>
  <p class="error list-error" role="alert" hidden></p>
  <p class="notice done" role="status" hidden></p>
  <div class="table-wrap"><table class="silences">
    <thead><tr><th scope="col">ID</th><th scope="col">Node</th><th scope="col">Check</th><th scope="col">Author</th>
    <th scope="col">Reason</th><th scope="col">Created</th><th scope="col">Ends</th><th scope="col">State</th>
    <th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
    <tbody><tr><td colspan="9">Loading…</td></tr></tbody>
  </table></div>
</section>`;
  const form = root.querySelector('form.silence-form');
  const formErr = root.querySelector('.form-error');
  const allLabel = form.querySelector('label.all');
  const toggle = root.querySelector('form.controls');
  const listErr = root.querySelector('.list-error');
  const done = root.querySelector('.done');
  const table = root.querySelector('table.silences');
  const tbody = table.querySelector('tbody');
  toggle.elements.expired.checked = view.expired;

  let dead = false;
  let seq = 0;

  function everything() {
    return form.elements.node.value.trim() === '*' && form.elements.check.value.trim() === '*';
  }
  function syncAll() {
    const both = everything();
    allLabel.hidden = !both;
    form.elements.all.disabled = !both;
    if (!both) form.elements.all.checked = false;
  }
  syncAll();
  form.addEventListener('input', syncAll);

  let sending = false;
  onSubmit(form, async () => {
    if (readOnly || sending) return;
    const el = form.elements;
    const body = {
      node: el.node.value.trim() || '*',
      check: el.check.value.trim() || '*',
      duration: el.duration.value.trim(),
      author: el.author.value.trim(),
      reason: el.reason.value.trim(),
    };
    if (everything()) {
      if (!el.all.checked) {
        showError(formErr, new Error('Both globs are *: tick "every check on every node" to silence everything.'));
        el.all.focus();
        return;
      }
      body.all = true;
    }
    if (!body.duration || !body.author || !body.reason) {
      showError(formErr, new Error('A duration, an author and a reason are needed.'));
      return;
    }
    const button = form.querySelector('button[type="submit"]');
    sending = true;
    button.disabled = true;
    showError(formErr, null);
    try {
      const s = await api.request('POST', '/v1/silences', { body, signal: ctx.signal });
      if (dead) return;
      el.reason.value = '';
      say(`Silence ${s && s.id ? s.id : ''} made: ${body.node} / ${body.check} for ${body.duration}.`);
      load();
    } catch (ex) {
      if (!ignorable(ex)) showError(formErr, ex, 'Not made: ');
    } finally {
      sending = false;
      button.disabled = false;
    }
  });

  toggle.addEventListener('change', () => {
    view.expired = toggle.elements.expired.checked;
    load();
  });
  toggle.addEventListener('submit', (e) => e.preventDefault());

  // one listener for every Expire button
  table.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-action="expire"]');
    if (!b || readOnly || b.disabled) return;
    const id = b.dataset.id;
    b.disabled = true;
    showError(listErr, null);
    try {
      await api.request('DELETE', '/v1/silences/' + encodeURIComponent(id), { signal: ctx.signal });
      if (dead) return;
      say(`Silence ${id} expired.`);
      load();
    } catch (ex) {
      if (ignorable(ex)) return;
      b.disabled = false;
      showError(listErr, ex, `Silence ${id} not expired: `);
    }
  });

  function say(text) {
    done.textContent = text;
    done.hidden = false;
  }

  async function load() {
    const my = ++seq;
    let list;
    try {
      list = await api.get('/v1/silences' + query({ expired: view.expired ? '1' : '' }), { signal: ctx.signal });
    } catch (e) {
      if (ignorable(e) || my !== seq) return;
      showError(listErr, e, 'Could not read the silences: ');
      tbody.innerHTML = '';
      return;
    }
    if (dead || my !== seq) return;
    ctx.updated();
    list = Array.isArray(list) ? list : [];
    if (!list.length) {
      tbody.innerHTML = `<tr><td colspan="9" class="muted">No silence${view.expired ? '' : ' is active'}.</td></tr>`;
      return;
    }
    setHTML(tbody, list.map((s) => row(s, readOnly)).join(''));
  }

  load();
  // silences end by themselves: look again now and then
  const poll = setInterval(load, 30000);
  return {
    refresh: load,
    event() {},
    unmount() {
      dead = true;
      clearInterval(poll);
    },
  };
}

function row(s, readOnly) {
  const ends = parseTime(s.expires);
  const ended = !!s.expired_at || (ends && ends.getTime() <= Date.now());
  const state = s.expired_at
    ? `<span class="badge st-other">expired early</span> ${timeTag(s.expired_at)}`
    : ended ? '<span class="badge st-other">ended</span>' : '<span class="badge st-active">active</span>';
  const action = ended
    ? ''
    : `<button type="button" data-action="expire" data-id="${esc(s.id)}" data-fk="expire:${esc(s.id)}"` +
      (readOnly ? ' disabled title="the read token cannot end a silence"' : '') +
      `>Expire<span class="visually-hidden"> silence ${esc(s.id)}</span></button>`;
  return `<tr data-testid="silence-row" data-id="${esc(s.id)}" data-state="${ended ? 'ended' : 'active'}">` +
    `<td><code>${esc(s.id)}</code></td><td><code>${esc(s.node)}</code></td><td><code>${esc(s.check)}</code></td>` +
    `<td>${esc(s.author)}</td><td>${esc(s.reason)}</td><td>${timeTag(s.created)}</td>` +
    `<td>${timeTag(s.expires)} <span class="muted">(${esc(ago(ends))})</span></td>` +
    `<td>${state}</td><td>${action}</td></tr>`;
}
