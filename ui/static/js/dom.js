// dom.js: the few DOM helpers the pages share. Pages build their markup as
// one string of escaped values (format.js esc) and set it in one go; setHTML
// keeps the keyboard focus across such a re-render: an element that can be
// focused and is redrawn carries data-fk="a stable key", and the element
// with the same key gets the focus back.

import { isAbort } from './api.js';

export function focusKey() {
  const a = document.activeElement;
  return a && a.dataset ? a.dataset.fk || '' : '';
}

export function refocus(root, fk) {
  if (!fk || focusKey() === fk) return;
  const el = root.querySelector(`[data-fk="${CSS.escape(fk)}"]`);
  if (el) el.focus({ preventScroll: true });
}

// setHTML replaces el's content, keeping the focus on the same keyed element.
export function setHTML(el, html) {
  const fk = el.contains(document.activeElement) ? focusKey() : '';
  el.innerHTML = html;
  refocus(el, fk);
}

// setIfChanged rewrites el only when its markup changes, so that a live
// region is not announced again for the same words.
const drawn = new WeakMap();
export function setIfChanged(el, html) {
  if (drawn.get(el) === html) return;
  drawn.set(el, html);
  el.innerHTML = html;
}

// onSubmit calls fn whenever form is submitted, and makes sure that the
// browser never submits it itself: the form is method="dialog" inside an
// open <dialog class="form-host">, so that even form.submit() (which fires
// no submit event) only closes that dialog; its close event reopens it and
// calls fn. No submission navigates, so no value (a token, a silence's
// text) ever lands in a URL.
export function onSubmit(form, fn) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    fn();
  });
  const host = form.closest('dialog');
  if (host) {
    host.addEventListener('close', () => {
      host.show();
      fn();
    });
  }
}

// errText is an error as a person reads it: the API's message and its code.
export function errText(e) {
  if (!e) return '';
  if (e.status) return `${e.message} (HTTP ${e.status})`;
  return e.message || String(e);
}

// showError writes an error (or clears it, e null) into an alert element.
export function showError(el, e, prefix = '') {
  if (!el) return;
  if (!e) {
    el.textContent = '';
    el.hidden = true;
    return;
  }
  el.textContent = prefix + errText(e);
  el.hidden = false;
}

// ignorable says whether a failed fetch should be ignored: aborted because
// the page was left, or a 401 (the app already shows the sign-in form).
export function ignorable(e) {
  return isAbort(e) || (e && e.status === 401);
}

// $ is querySelector on a root.
export function $(root, sel) {
  return root.querySelector(sel);
}
