// app.js: the page's entry point. It signs in (GET /v1/session without a
// token first; on 401 a form asks for one), keeps the header (the node
// serving the page, the navigation, the live indicator, the time of the
// last update), keeps the one /v1/events stream, and routes the location
// hash to a page module. A page module exports
//   mount(root, route, ctx) -> {refresh(), event(ev), unmount()}
// where ctx is {session, signal (aborted when the page is left),
// updated() (data arrived: set the header's time), title(text)}.

import * as api from './api.js';
import { esc, fmtClock, parseRoute } from './format.js';
import { errText, onSubmit } from './dom.js';
import * as cluster from './pages/cluster.js';
import * as node from './pages/node.js';
import * as check from './pages/check.js';
import * as historyPage from './pages/history.js';
import * as silences from './pages/silences.js';

const notfound = {
  mount(root, route, ctx) {
    ctx.title('Not found');
    root.innerHTML = `<h1>Not found</h1><p>There is no such page. Go to the <a href="#/">cluster</a>.</p>`;
    return { refresh() {}, event() {}, unmount() {} };
  },
};

const PAGES = { cluster, node, check, history: historyPage, silences, notfound };
const NAV = { cluster: 'cluster', node: 'cluster', check: 'cluster', history: 'history', silences: 'silences' };

const main = document.getElementById('main');
const live = document.querySelector('[data-testid="live-status"]');
const lastUpdate = document.querySelector('[data-testid="last-update"]');
const servingNode = document.querySelector('[data-testid="serving-node"]');
const serving = document.getElementById('serving');
const access = document.getElementById('access');
const signoutLink = document.querySelector('[data-testid="signout"]');
const nav = document.getElementById('nav');

let session = null;
let page = null;
let retryTimer = null;

const stream = new api.EventStream(onEvent, setLive);

function setLive(state) {
  live.dataset.state = state;
  live.className = 'live live-' + state;
  live.textContent = state === 'connected' ? 'live: connected' : session ? 'live: reconnecting…' : 'live: not connected';
}

function updated() {
  const d = new Date();
  lastUpdate.dateTime = d.toISOString();
  lastUpdate.textContent = fmtClock(d);
}

function setTitle(t) {
  document.title = t ? `${t} · satellite` : 'satellite';
}

function onEvent(ev) {
  if (!page) return;
  if (ev.type === 'hello') {
    page.handle.refresh();
    return;
  }
  if (ev.type === 'reset') return; // the stream ends; the reconnect's hello refetches
  page.handle.event(ev);
}

function unmountPage() {
  if (!page) return;
  page.ctrl.abort();
  try {
    page.handle.unmount();
  } catch (e) {
    console.error(e);
  }
  page = null;
}

function route(focus) {
  if (!session) return;
  const r = parseRoute(location.hash);
  if (r.name === 'signout') {
    signOut();
    return;
  }
  unmountPage();
  const current = NAV[r.name] || '';
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    if (a.dataset.nav === current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const ctrl = new AbortController();
  const ctx = { session, signal: ctrl.signal, updated, title: setTitle };
  main.innerHTML = '';
  const mod = PAGES[r.name] || notfound;
  let handle;
  try {
    handle = mod.mount(main, r, ctx);
  } catch (e) {
    console.error(e);
    main.innerHTML = `<h1>Error</h1><p class="error" role="alert">${esc(errText(e))}</p>`;
    handle = { refresh() {}, event() {}, unmount() {} };
  }
  page = { handle, ctrl };
  if (focus) {
    window.scrollTo(0, 0);
    main.focus({ preventScroll: true });
  }
}

function signedIn(s) {
  session = s;
  clearTimeout(retryTimer);
  servingNode.textContent = s.node || '';
  serving.hidden = !s.node;
  const words = [];
  if (s.access === 'read') words.push('read-only');
  if (s.version) words.push('v' + s.version);
  access.textContent = words.join(' · ');
  signoutLink.hidden = !api.token();
  nav.hidden = false;
  setLive('reconnecting');
  stream.start();
  route(false);
}

// showSignin shows the sign-in form (once: a second call only changes the
// notice, so that what was typed stays).
function showSignin(notice) {
  stream.stop();
  unmountPage();
  session = null;
  setLive('reconnecting');
  nav.hidden = true;
  signoutLink.hidden = true;
  servingNode.textContent = '';
  serving.hidden = true;
  access.textContent = '';
  setTitle('Sign in');
  let form = main.querySelector('[data-testid="signin-form"]');
  if (!form) {
    main.innerHTML = `
<section class="signin" aria-labelledby="signin-h">
  <h1 id="signin-h">Sign in</h1>
  <p class="notice" role="status" hidden></p>
  <p>This agent's API needs a token: the read token shows the dashboard, the full token also lets you make and end silences.</p>
  <dialog open class="form-host" aria-labelledby="signin-h">
  <form data-testid="signin-form" class="stack" method="dialog" autocomplete="off">
    <label for="signin-token">API token</label>
    <input id="signin-token" name="token" type="password" required autocomplete="off" spellcheck="false">
    <button type="submit">Sign in</button>
    <p data-testid="signin-error" class="error" role="alert" hidden></p>
  </form>
  </dialog>
  <p class="muted">The token stays in this browser tab (session storage) and is sent to this agent only.</p>
</section>`;
    form = main.querySelector('[data-testid="signin-form"]');
    onSubmit(form, submitSignin);
  }
  const n = main.querySelector('.signin .notice');
  n.textContent = notice || '';
  n.hidden = !notice;
  form.elements.token.focus();
}

let signingIn = false;

async function submitSignin() {
  const form = main.querySelector('[data-testid="signin-form"]');
  if (!form || signingIn) return;
  const input = form.elements.token;
  const button = form.querySelector('button');
  const err = form.querySelector('[data-testid="signin-error"]');
  const t = input.value.trim();
  if (!t) {
    err.textContent = 'Sign-in failed: type the token first.';
    err.hidden = false;
    input.focus();
    return;
  }
  signingIn = true;
  button.disabled = true;
  err.hidden = true;
  try {
    const s = await api.get('/v1/session', { token: t, probe: true });
    api.setToken(t);
    input.value = '';
    signedIn(s);
  } catch (ex) {
    err.textContent = ex.status === 401 ? 'Sign-in failed: wrong token.' : 'Sign-in failed: ' + errText(ex);
    err.hidden = false;
    input.select();
    input.focus();
  } finally {
    signingIn = false;
    button.disabled = false;
  }
}

function signOut() {
  api.clearToken();
  window.history.replaceState(null, '', '#/');
  showSignin('Signed out: the token is forgotten.');
}

// start asks /v1/session with the kept token, if any.
async function start() {
  const kept = !!api.token();
  try {
    signedIn(await api.get('/v1/session', { probe: true }));
  } catch (e) {
    if (e.status === 401) {
      api.clearToken();
      showSignin(kept ? 'The agent refused the kept token: sign in again.' : '');
      return;
    }
    main.innerHTML = `<h1>The agent did not answer</h1>
<p class="error" role="alert">${esc('GET /v1/session: ' + errText(e))}</p>
<p>Trying again in 5 seconds. <button type="button" id="retry">Try now</button></p>`;
    main.querySelector('#retry').addEventListener('click', start);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(start, 5000);
  }
}

api.onUnauthorized(() => showSignin('The agent no longer accepts the token: sign in again.'));
window.addEventListener('hashchange', () => route(true));
setLive('reconnecting');
start();
