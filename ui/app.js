// PlanOpticon Auth: the window. Renders the snapshots the app sends (one
// card per service) and invokes its commands; no auth logic here.
'use strict';

const scriptStart = Date.now(); // launch timing (bench/floor.sh)

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (sel, root = document) => root.querySelector(sel);

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

// ---- state ---------------------------------------------------------------
let shownVersion = 0;
let snapshot = null;
const pasteOpen = new Set();   // cards whose "Paste code instead" panel is open
const rendered = new Map();    // service -> the key its card was last rendered with
const busy = new Set();        // cards with a command on its way
const panels = new Map();      // service -> its open Set up panel (kept across re-renders)
const flash = new Map();       // service -> what its last Save said

// ---- time ----------------------------------------------------------------
function relative(expiresAt) {
  const secs = expiresAt - Date.now() / 1000;
  const a = Math.abs(secs);
  let span;
  if (a < 90) span = `${Math.round(a)} s`;
  else if (a < 90 * 60) span = `${Math.round(a / 60)} min`;
  else if (a < 48 * 3600) span = `${Math.round(a / 3600)} h`;
  else span = `${Math.round(a / 86400)} days`;
  return secs >= 0 ? `in ${span}` : `${span} ago`;
}

function absolute(expiresAt) {
  return new Date(expiresAt * 1000).toLocaleString();
}

function expiryWords(expiresAt) {
  return `${expiresAt * 1000 < Date.now() ? 'expired' : 'expires'} ${relative(expiresAt)}`;
}

// Relative expiry times move on without a new snapshot (a card that needs
// reconnecting is not re-rendered while its token runs out): every second
// while one is shown in seconds, else every 30 s. Only the words change.
let expiryTimer = null;
function tickExpiries() {
  clearTimeout(expiryTimer);
  let seconds = false;
  for (const x of document.querySelectorAll('[data-role="expiry"]')) {
    const at = Number(x.dataset.expiresAt);
    const words = expiryWords(at);
    if (x.textContent !== words) x.textContent = words;
    if (Math.abs(at - Date.now() / 1000) < 90) seconds = true;
  }
  expiryTimer = setTimeout(tickExpiries, seconds ? 1000 : 30000);
}

// ---- cards ---------------------------------------------------------------
const BUILTIN_CLASS = new Set(['google', 'dropbox', 'zoom', 'notion', 'github', 'microsoft', 'plane']);

function avatarClass(service) {
  if (BUILTIN_CLASS.has(service)) return service;
  let h = 0;
  for (const ch of service) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return `c${h % 6}`;
}

function actionsFor(card) {
  const main = mainActions(card);
  // Edit (the Set up form) wherever Set up is not the main action; Remove for
  // a service of one's own (services.toml).
  if (!card.offers_setup) main.push(['setup', 'Edit', 'link']);
  if (card.removable) main.push(['remove', 'Remove', 'link']);
  return main;
}

function mainActions(card) {
  // [action, label, primary?]
  // Nothing to sign in with yet: Set up, not a Connect that can only fail.
  if (card.offers_setup) return [['setup', 'Set up', 'primary']];
  const connect = card.configured ? 'primary' : '';
  switch (card.state) {
    case 'not_connected':
      // Where no browser comes back here (a forwarded display), a code first.
      if (card.configured && card.suggested === 'device' && card.device) {
        return [['connect-device', 'Use a code', 'primary'], ['connect', 'Connect', '']];
      }
      if (card.configured && card.suggested === 'remote') {
        return [['connect-paste', 'Paste a code', 'primary'], ['connect', 'Connect', '']];
      }
      return [['connect', 'Connect', connect]]
        .concat(card.device ? [['connect-device', 'Use a code', '']] : [])
        .concat(card.configured ? [['connect-paste', 'Paste a code', 'link']] : []);
    case 'connected':
      return card.can_disconnect ? [['disconnect', 'Disconnect', '']] : [];
    case 'expired_refreshable':
      return [['connect', 'Refresh', 'primary'], ['disconnect', 'Disconnect', '']];
    case 'needs_reconnect':
      return [['connect', 'Reconnect', 'primary'], ['disconnect', 'Disconnect', '']];
    default: // error
      return [['connect', 'Connect', connect]]
        .concat(card.can_disconnect ? [['disconnect', 'Remove token file', '']] : []);
  }
}

function metaLine(card) {
  const parts = [];
  if (card.method_label) {
    parts.push(card.method_label);
  }
  if (card.expires_at != null && card.state !== 'not_connected') {
    parts.push(`<span data-role="expiry" data-expires-at="${esc(String(card.expires_at))}" title="${esc(absolute(card.expires_at))}">${esc(expiryWords(card.expires_at))}</span>`);
    if (!card.renewable && card.state === 'connected') {
      parts.push('<span data-role="not-renewable" title="The provider gave no refresh token">cannot renew by itself</span>');
    }
  }
  if (card.account) parts.push(`<span data-role="account">${esc(card.account)}</span>`);
  if (!parts.length) return '';
  return `<p class="meta" data-role="meta">${parts.map((p) => (p.startsWith('<') ? p : esc(p))).join(' · ')}</p>`;
}

function waitingPanel(card) {
  const s = card.sign_in;
  const device = s.mode === 'device';
  const paste = !device && (s.mode === 'paste' || pasteOpen.has(card.service));
  const what = !s.url
    ? 'Starting the sign-in…'
    : device
      ? 'On any device, open the address below and enter the code.'
      : s.mode === 'paste'
        ? 'Sign in in the browser, then paste the code it shows.'
        : 'Waiting for the browser… finish signing in there.';
  let html = `<div class="waiting" data-role="waiting">
    <div class="line"><span class="spinner" aria-hidden="true"></span><span class="what">${what}</span></div>`;
  if (device && s.url) {
    html += `<div class="paste">
      <div class="url">
        <input type="text" readonly data-role="auth-url" aria-label="Address to open" value="${esc(s.url)}">
        <button type="button" data-action="copy">Copy</button>
      </div>
      <p class="user-code" data-role="user-code">${esc(s.user_code || '')}</p>
    </div>`;
  }
  if (paste && s.url) {
    html += `<div class="paste">
      <label for="url-${esc(card.service)}">Address to open in a browser</label>
      <div class="url">
        <input type="text" readonly id="url-${esc(card.service)}" data-role="auth-url" value="${esc(s.url)}">
        <button type="button" data-action="copy">Copy</button>
      </div>
      <label for="code-${esc(card.service)}">Then paste the code, or the whole address the browser ended on</label>
      <form data-role="paste-form">
        <input type="text" id="code-${esc(card.service)}" data-role="code" autocomplete="off" spellcheck="false" placeholder="Code or http://127.0.0.1…/callback?code=…">
        <button type="submit" class="primary">Submit</button>
      </form>
    </div>`;
  }
  html += `<div class="actions">
      <button type="button" data-action="cancel">Cancel</button>
      ${s.url && !paste && !device ? '<button type="button" class="link" data-action="paste-open">Paste code instead</button>' : ''}
    </div></div>`;
  return html;
}

function noticeBlock(card) {
  const n = card.notice;
  if (!n) return '';
  const details = n.details && n.details.length
    ? `<details><summary>What was tried</summary><ul>${n.details.map((d) => `<li>${esc(d)}</li>`).join('')}</ul></details>`
    : '';
  return `<div class="notice ${esc(n.kind)}" data-role="notice" role="${n.kind === 'error' ? 'alert' : 'status'}">
    <div class="text"><span data-role="notice-text">${esc(n.text)}</span>${details}</div>
    <button type="button" class="icon" data-action="dismiss" aria-label="Dismiss">×</button>
  </div>`;
}

function cardHtml(card) {
  const signingIn = !!card.sign_in;
  const pill = signingIn
    ? '<span class="pill waiting">Signing in…</span>'
    : `<span class="pill ${esc(card.state)}" data-role="state-label">${esc(card.state_label)}</span>`;
  // The setup hint when nothing is configured; what is wrong when the token
  // is dead or broken. ("Click Connect" for a ready service says nothing new.)
  const showHint = card.detail && !signingIn
    && (card.state === 'needs_reconnect' || card.state === 'error' || (card.state === 'not_connected' && !card.configured));
  const hint = showHint ? `<p class="hint" data-role="detail">${esc(card.detail)}</p>` : '';
  const actions = signingIn ? '' : actionsFor(card)
    .map(([act, label, cls]) => `<button type="button" class="${cls}" data-action="${act}" ${busy.has(card.service) ? 'disabled' : ''}>${label}</button>`)
    .join('');
  const origin = card.builtin ? 'built-in' : 'services.toml';
  const saved = flash.get(card.service);
  const flashLine = saved ? `<p class="flash" data-role="flash" role="status">${esc(saved)}</p>` : '';
  const body = `${metaLine(card)}${hint}${flashLine}${noticeBlock(card)}${signingIn ? waitingPanel(card) : ''}`;
  return `<div class="avatar ${avatarClass(card.service)}" aria-hidden="true">${esc(card.display_name.charAt(0).toUpperCase())}</div>
    <div class="card-title">
      <h2 id="title-${esc(card.service)}">${esc(card.display_name)}
        <span class="origin muted" title="${esc(card.token_path)}">${origin}</span></h2>
    </div>
    <div class="side">${pill}<div class="actions">${actions}</div></div>
    ${body ? `<div class="body">${body}</div>` : ''}`;
}

function renderCards(force = false) {
  if (!snapshot) return;
  const root = $('#cards');
  root.setAttribute('aria-busy', 'false');
  const loading = $('.loading', root);
  if (loading) loading.remove();

  const err = $('#services-error');
  if (snapshot.services_error) {
    err.textContent = `services.toml has a mistake; the services it does not touch work as usual. ${snapshot.services_error}`;
    err.hidden = false;
  } else {
    err.hidden = true;
  }

  const seen = new Set();
  let previous = null;
  for (const card of snapshot.cards) {
    seen.add(card.service);
    let el = root.querySelector(`article[data-service="${CSS.escape(card.service)}"]`);
    if (!el) {
      el = document.createElement('article');
      el.className = 'card';
      el.dataset.service = card.service;
      el.setAttribute('aria-labelledby', `title-${card.service}`);
    }
    // Keep the order of the snapshot.
    const want = previous ? previous.nextSibling : root.firstChild;
    if (want !== el) root.insertBefore(el, want);
    previous = el;

    el.dataset.state = card.state;
    el.dataset.method = card.method || '';
    el.dataset.signingIn = card.sign_in ? 'true' : 'false';
    const key = JSON.stringify([card, pasteOpen.has(card.service), busy.has(card.service)]);
    if (!force && rendered.get(card.service) === key) continue;
    rendered.set(card.service, key);

    // Re-render in place, keeping focus and anything typed in the paste field.
    const active = document.activeElement;
    const focusAction = el.contains(active) ? (active.dataset.action || active.dataset.role) : null;
    const typed = $('[data-role="code"]', el)?.value;
    el.innerHTML = cardHtml(card);
    const panel = panels.get(card.service);
    if (panel) {
      el.appendChild(panel);
      if (panel.contains(active)) active.focus();
    }
    const code = $('[data-role="code"]', el);
    if (code && typed) code.value = typed;
    if (focusAction) {
      const again = el.querySelector(`[data-action="${focusAction}"], [data-role="${focusAction}"]`)
        || el.querySelector('button:not([disabled]), input');
      if (again) again.focus();
    }
  }
  for (const el of [...root.querySelectorAll('article[data-service]')]) {
    if (!seen.has(el.dataset.service)) {
      rendered.delete(el.dataset.service);
      panels.delete(el.dataset.service);
      el.remove();
    }
  }
  // "Add a service" stays the last card.
  const add = $('#add-card');
  if (add.hidden || root.lastElementChild !== add) {
    root.appendChild(add);
    add.hidden = false;
  }
  tickExpiries();
}

function cardOf(service) {
  return snapshot?.cards.find((c) => c.service === service);
}

function showError(service, message) {
  // A command that failed before the app could put its outcome on the card.
  const el = $(`article[data-service="${CSS.escape(service)}"]`);
  if (!el) return;
  let box = $('[data-role="local-error"]', el);
  if (!box) {
    box = document.createElement('div');
    box.className = 'notice error';
    box.dataset.role = 'local-error';
    box.setAttribute('role', 'alert');
    el.appendChild(box);
  }
  box.textContent = String(message);
}

async function run(service, command, args = {}) {
  busy.add(service);
  renderCards();
  try {
    await invoke(command, { service, ...args });
  } catch (e) {
    busy.delete(service);
    renderCards(true);
    showError(service, e);
    return;
  }
  busy.delete(service);
  renderCards();
}

// ---- confirmation dialog -------------------------------------------------
// Resolves to null (cancelled) or { keepGrant }.
function confirmDisconnect(card) {
  const dialog = $('#confirm');
  const keep = $('#confirm-keep-grant');
  keep.checked = false;
  const copy = snapshot?.keyring ? ' with its keyring copy' : '';
  $('#confirm-title').textContent = `Disconnect ${card.display_name}?`;
  $('#confirm-text').textContent =
    `The token is revoked at the provider where it allows that, then deleted here (${card.token_path})${copy}. You can connect again at any time.`;
  return new Promise((resolve) => {
    dialog.returnValue = '';
    const done = () => {
      dialog.removeEventListener('close', done);
      resolve(dialog.returnValue === 'ok' ? { keepGrant: keep.checked } : null);
    };
    dialog.addEventListener('close', done);
    dialog.showModal();
    $('#confirm-ok').focus();
  });
}

// ---- card events ---------------------------------------------------------
async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const input = button.parentElement.querySelector('input');
    input.select();
    ok = document.execCommand('copy');
  }
  button.textContent = ok ? 'Copied' : 'Select and copy';
  setTimeout(() => { button.textContent = 'Copy'; }, 1500);
}

$('#cards').addEventListener('click', async (ev) => {
  const button = ev.target.closest('button[data-action]');
  if (!button || button.closest('.setup-panel, #add-card')) return;
  const service = button.closest('article').dataset.service;
  const card = cardOf(service);
  if (!card) return;
  switch (button.dataset.action) {
    case 'connect':
      flash.delete(service);
      pasteOpen.delete(service);
      await run(service, 'connect');
      break;
    case 'connect-device':
      pasteOpen.delete(service);
      await run(service, 'connect', { device: true });
      break;
    case 'connect-paste':
      await run(service, 'connect', { paste: true });
      break;
    case 'cancel':
      await run(service, 'cancel');
      break;
    case 'paste-open':
      pasteOpen.add(service);
      renderCards();
      $(`article[data-service="${CSS.escape(service)}"] [data-role="code"]`)?.focus();
      break;
    case 'copy':
      await copyText(card.sign_in?.url || '', button);
      break;
    case 'dismiss':
      await run(service, 'dismiss');
      break;
    case 'setup':
      await openSetup(service);
      break;
    case 'remove':
      await removeService(card);
      break;
    case 'disconnect': {
      const answer = await confirmDisconnect(card);
      if (answer) await run(service, 'disconnect', { keepGrant: answer.keepGrant });
      $(`article[data-service="${CSS.escape(service)}"] button`)?.focus();
      break;
    }
    default:
  }
});

$('#cards').addEventListener('submit', async (ev) => {
  if (ev.target.closest('.setup-panel, #add-card')) return;
  const form = ev.target.closest('form[data-role="paste-form"]');
  if (!form) return;
  ev.preventDefault();
  const service = form.closest('article').dataset.service;
  const input = $('[data-role="code"]', form);
  const text = input.value.trim();
  if (!text) { input.focus(); return; }
  await run(service, 'paste_code', { text });
});

$('#cards').addEventListener('keydown', (ev) => {
  // Escape in the paste field closes it (the loopback wait goes on).
  if (ev.key === 'Escape' && ev.target.dataset.role === 'code') {
    const service = ev.target.closest('article').dataset.service;
    if (cardOf(service)?.sign_in?.mode !== 'paste') {
      pasteOpen.delete(service);
      renderCards();
      $(`article[data-service="${CSS.escape(service)}"] [data-action="paste-open"]`)?.focus();
    }
  }
});

// ---- Set up, API key and Add a service forms -------------------------------
// What each form shows and every decision (is a value valid, where a secret
// goes, which URLs a tenant sets) come from the app's commands, which ask
// the library; here they are only laid out.

function fieldHtml(service, f) {
  const id = `f-${service}-${f.name}`;
  const ro = f.editable ? '' : 'readonly aria-readonly="true"';
  const type = f.secret ? 'password' : 'text';
  const toggle = f.secret && f.editable
    ? '<button type="button" class="reveal" data-form="reveal" aria-pressed="false">Show</button>' : '';
  const source = f.source ? `<span class="source muted" data-role="source">${esc(f.secret && f.set ? `set, in ${f.source}` : f.source)}</span>` : '';
  const note = f.note ? `<p class="field-note muted" data-role="note">${esc(f.note)}</p>` : '';
  return `<div class="form-field${f.editable ? '' : ' locked'}" data-field-row="${esc(f.name)}">
    <label for="${esc(id)}">${esc(f.label)} ${source}</label>
    <div class="input-row">
      <input type="${type}" id="${esc(id)}" data-field="${esc(f.name)}" data-original="${esc(f.value)}"
        value="${esc(f.value)}" placeholder="${esc(f.placeholder)}" autocomplete="off" spellcheck="false" ${ro}>
      ${toggle}
    </div>
    ${note}
    <p class="field-error" data-error-for="${esc(f.name)}" role="alert" hidden></p>
  </div>`;
}

function setupPanelHtml(form) {
  const s = form.service;
  const g = form.guide;
  const redirect = g.redirect_uri
    ? `<div class="url"><input type="text" readonly data-role="redirect-uri" aria-label="Redirect URI to register" value="${esc(g.redirect_uri)}">
        <button type="button" data-form="copy-redirect">Copy</button></div>`
    : '';
  const consoleButton = g.console_url
    ? `<button type="button" data-form="console">Open developer console</button>` : '';
  const key = g.api_key
    ? `<details class="key-section" data-role="key-section">
        <summary>Use an API key / personal access token</summary>
        <form data-role="key-form" class="key-form">
          <p class="muted">${/^[aeiou]/i.test(g.api_key.label) ? 'An' : 'A'} ${esc(g.api_key.label)}${g.api_key.url ? ` (made at <code>${esc(g.api_key.url)}</code>)` : ''}, instead of signing in.
            It is checked at ${esc(form.display_name)} before it is saved${g.api_key.bearer ? '; saved as the token file, the CLI and the Python tool use it too' : ''}.</p>
          <div class="input-row">
            <input type="password" data-role="api-key" aria-label="${esc(g.api_key.label)}" autocomplete="off" spellcheck="false" placeholder="Paste the ${esc(g.api_key.label)}">
            <button type="button" class="reveal" data-form="reveal" aria-pressed="false">Show</button>
            <button type="submit" class="primary" data-form="save-key">Check and save</button>
          </div>
          <p class="form-status" data-role="key-status" aria-live="polite"></p>
        </form>
      </details>`
    : '';
  const remove = form.removable ? '<button type="button" class="danger" data-form="remove">Remove service</button>' : '';
  return `<div class="setup-head">
      <h3 id="setup-title-${esc(s)}">Set up ${esc(form.display_name)}</h3>
      <button type="button" class="icon" data-form="close" aria-label="Close">×</button>
    </div>
    <div class="banner error" data-role="form-error" role="alert" ${form.file_error ? '' : 'hidden'}>${form.file_error
      ? `services.toml has a mistake, so nothing can be saved until it is fixed by hand: ${esc(form.file_error)}` : ''}</div>
    <ol class="guide" data-role="guide">
      <li><span>At the provider, create: ${esc(g.app_kind)}.</span> ${consoleButton}</li>
      <li><span>${g.redirect_uri ? 'Register this redirect URI:' : 'Redirect URI:'}</span> ${redirect}
        <span class="muted">${esc(g.redirect_note)}</span></li>
      <li><span>Paste what the provider gives you here, then Save.</span></li>
    </ol>
    <form data-role="setup-form" aria-labelledby="setup-title-${esc(s)}">
      ${form.fields.map((f) => fieldHtml(s, f)).join('')}
      <details class="advanced" data-role="advanced">
        <summary>Advanced: endpoints</summary>
        ${form.advanced.map((f) => fieldHtml(s, f)).join('')}
      </details>
      <p class="muted small">A client secret is saved in ${esc(form.secret_goes_to)}.</p>
      <p class="form-status" data-role="form-status" aria-live="polite"></p>
      <div class="actions">
        <button type="submit" class="primary" data-form="save">Save</button>
        <button type="button" data-form="close">Cancel</button>
        ${remove}
      </div>
    </form>
    ${key}`;
}

async function openSetup(service) {
  let form;
  try {
    form = await invoke('service_form', { service });
  } catch (e) {
    showError(service, e);
    return;
  }
  flash.delete(service);
  panels.get(service)?.remove();
  const panel = document.createElement('section');
  panel.className = 'setup-panel';
  panel.dataset.role = 'setup-panel';
  panel.dataset.service = service;
  panel.innerHTML = setupPanelHtml(form);
  panel.form = form;
  panels.set(service, panel);
  const el = $(`article[data-service="${CSS.escape(service)}"]`);
  el.appendChild(panel);
  el.classList.add('editing');
  (panel.querySelector('input[data-field]:not([readonly])') || panel.querySelector('button')).focus();
}

function closeSetup(service) {
  const panel = panels.get(service);
  panels.delete(service);
  if (panel) {
    panel.closest('article')?.classList.remove('editing');
    panel.remove();
  }
  $(`article[data-service="${CSS.escape(service)}"] button[data-action]`)?.focus();
}

/** The changed fields: a cleared plain field is unset (null); an empty
 *  secret keeps the saved one (not sent). */
function changedFields(panel) {
  const out = [];
  for (const input of panel.querySelectorAll('form[data-role="setup-form"] input[data-field]')) {
    if (input.readOnly) continue;
    const value = input.value.trim();
    if (input.type === 'password' || input.dataset.secret) {
      if (input.value !== '') out.push({ name: input.dataset.field, value: input.value });
    } else if (value !== input.dataset.original) {
      out.push({ name: input.dataset.field, value: value === '' ? null : value });
    }
  }
  return out;
}

async function saveSetup(panel) {
  const service = panel.dataset.service;
  const status = $('[data-role="form-status"]', panel);
  for (const p of panel.querySelectorAll('.field-error')) { p.hidden = true; p.textContent = ''; }
  for (const r of panel.querySelectorAll('.form-field.invalid')) r.classList.remove('invalid');
  const fields = changedFields(panel);
  if (!fields.length) {
    status.textContent = 'Nothing changed.';
    return;
  }
  status.className = 'form-status';
  status.textContent = 'Saving…';
  let out;
  try {
    out = await invoke('save_service', { service, fields });
  } catch (e) {
    status.className = 'form-status error';
    status.textContent = String(e);
    return;
  }
  if (!out.saved) {
    status.className = 'form-status error';
    status.textContent = out.message;
    let first = null;
    for (const err of out.errors) {
      const p = panel.querySelector(`[data-error-for="${CSS.escape(err.field)}"]`);
      if (p) {
        p.textContent = err.message;
        p.hidden = false;
        p.closest('.form-field').classList.add('invalid');
        const details = p.closest('details');
        if (details) details.open = true;
        first = first || panel.querySelector(`input[data-field="${CSS.escape(err.field)}"]`);
      }
    }
    (first || status).focus?.();
    return;
  }
  flash.set(service, out.message);
  closeSetup(service);
  renderCards(true);
  $(`article[data-service="${CSS.escape(service)}"] button[data-action]`)?.focus();
}

async function saveKey(panel) {
  const service = panel.dataset.service;
  const input = $('[data-role="api-key"]', panel);
  const status = $('[data-role="key-status"]', panel);
  if (!input.value.trim()) {
    input.focus();
    return;
  }
  status.className = 'form-status';
  status.textContent = 'Checking the key with the provider…';
  try {
    const out = await invoke('save_api_key', { service, key: input.value });
    input.value = '';
    flash.set(service, out.message);
    closeSetup(service);
    renderCards(true);
  } catch (e) {
    status.className = 'form-status error';
    status.textContent = `Not saved: ${e}`;
    input.focus();
  }
}

async function openConsole(panel, button) {
  const status = $('[data-role="form-status"]', panel);
  button.disabled = true;
  try {
    const url = await invoke('open_console', { service: panel.dataset.service });
    status.className = 'form-status';
    status.textContent = `Opened ${url} in the browser.`;
  } catch (e) {
    status.className = 'form-status error';
    status.textContent = String(e);
  }
  button.disabled = false;
}

$('#cards').addEventListener('click', async (ev) => {
  const button = ev.target.closest('section.setup-panel button[data-form]');
  if (!button) return;
  const panel = button.closest('.setup-panel');
  const service = panel.dataset.service;
  switch (button.dataset.form) {
    case 'close':
      closeSetup(service);
      break;
    case 'reveal': {
      const input = button.parentElement.querySelector('input');
      const show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      if (input.dataset.field) input.dataset.secret = 'true';
      button.textContent = show ? 'Hide' : 'Show';
      button.setAttribute('aria-pressed', String(show));
      break;
    }
    case 'copy-redirect':
      await copyText(panel.form.guide.redirect_uri, button);
      break;
    case 'console':
      await openConsole(panel, button);
      break;
    case 'remove': {
      const card = cardOf(service);
      if (card) await removeService(card);
      break;
    }
    default:
  }
});

$('#cards').addEventListener('submit', async (ev) => {
  const panel = ev.target.closest('section.setup-panel');
  if (!panel) return;
  ev.preventDefault();
  if (ev.target.dataset.role === 'key-form') await saveKey(panel);
  else await saveSetup(panel);
});

$('#cards').addEventListener('input', (ev) => {
  // A refusal stands for the value it was about; editing the field clears it.
  const row = ev.target.closest?.('section.setup-panel .form-field.invalid');
  if (!row) return;
  row.classList.remove('invalid');
  const error = $('.field-error', row);
  error.hidden = true;
  error.textContent = '';
});

$('#cards').addEventListener('keydown', (ev) => {
  const panel = ev.target.closest?.('section.setup-panel');
  if (panel && ev.key === 'Escape') closeSetup(panel.dataset.service);
});

// Remove asks, and offers to disconnect first when there is a connection.
function confirmRemove(card) {
  const dialog = $('#confirm-remove');
  const disconnect = $('#remove-disconnect');
  $('#remove-title').textContent = `Remove ${card.display_name}?`;
  $('#remove-text').textContent = `Its table is deleted from ${snapshot?.services_file ?? 'services.toml'}`
    + ' (and its client secret from the keyring, if it is there).';
  disconnect.checked = card.can_disconnect;
  disconnect.closest('label').hidden = !card.can_disconnect;
  return new Promise((resolve) => {
    dialog.returnValue = '';
    const done = () => {
      dialog.removeEventListener('close', done);
      resolve(dialog.returnValue === 'ok' ? { disconnect: disconnect.checked && card.can_disconnect } : null);
    };
    dialog.addEventListener('close', done);
    dialog.showModal();
    $('#remove-cancel').focus();
  });
}

async function removeService(card) {
  const answer = await confirmRemove(card);
  if (!answer) return;
  const service = card.service;
  try {
    const words = await invoke('remove_service', { service, disconnect: answer.disconnect });
    panels.delete(service);
    if (words) showPageNotice(`${card.display_name} was removed. ${words}`);
  } catch (e) {
    const status = panels.get(service) && $('[data-role="form-status"]', panels.get(service));
    if (status) {
      status.className = 'form-status error';
      status.textContent = String(e);
    } else {
      showError(service, e);
    }
  }
}

// What outlives its card (Remove's failed revocation), until dismissed.
function showPageNotice(text) {
  const box = $('#page-notice');
  $('span', box).textContent = text;
  box.hidden = false;
}

$('#page-notice-dismiss').addEventListener('click', () => { $('#page-notice').hidden = true; });

// "Add a service": a name, and the issuer (discovery is shown) or two endpoint URLs.
function addMode() {
  return $('#add-form input[name="add-by"]:checked').value;
}

function showAddMode() {
  const byIssuer = addMode() === 'issuer';
  $('#add-issuer-row').hidden = !byIssuer;
  $('#add-endpoints-rows').hidden = byIssuer;
}

for (const r of document.querySelectorAll('#add-form input[name="add-by"]')) r.addEventListener('change', showAddMode);

$('#add-open').addEventListener('click', () => {
  $('#add-form').hidden = false;
  $('#add-open').hidden = true;
  $('#add-result').hidden = true;
  $('#add-name').focus();
});

$('#add-cancel').addEventListener('click', () => {
  $('#add-form').hidden = true;
  $('#add-open').hidden = false;
  $('#add-status').textContent = '';
  $('#add-open').focus();
});

$('#add-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const status = $('#add-status');
  const name = $('#add-name').value.trim();
  if (!name) { $('#add-name').focus(); return; }
  const args = addMode() === 'issuer'
    ? { name, issuer: $('#add-issuer').value.trim() }
    : { name, authorize: $('#add-authorize').value.trim(), token: $('#add-token').value.trim() };
  status.className = 'form-status';
  status.textContent = addMode() === 'issuer' ? 'Asking the issuer for its endpoints…' : 'Adding…';
  try {
    const added = await invoke('add_service', args);
    status.textContent = '';
    $('#add-result-text').textContent = added.message;
    $('#add-discovered').innerHTML = added.discovered
      .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('');
    $('#add-discovered').hidden = !added.discovered.length;
    $('#add-result').hidden = false;
    $('#add-result').dataset.service = added.service;
    $('#add-form').reset();
    showAddMode();
    $('#add-form').hidden = true;
    $('#add-open').hidden = false;
    $('#add-setup').focus();
  } catch (e) {
    status.className = 'form-status error';
    status.textContent = `Not added: ${e}`;
  }
});

$('#add-setup').addEventListener('click', async () => {
  const service = $('#add-result').dataset.service;
  $('#add-result').hidden = true;
  if (service && cardOf(service)) await openSetup(service);
});

// ---- tabs ----------------------------------------------------------------
const tabs = ['services', 'settings', 'about'];

function selectTab(name, focus = false) {
  for (const t of tabs) {
    const tab = $(`#tab-${t}`);
    const on = t === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(`#view-${t}`).hidden = !on;
    if (on && focus) tab.focus();
  }
  if (name === 'settings') loadSettings();
  if (name === 'about') loadDiagnostics();
}

for (const t of tabs) {
  $(`#tab-${t}`).addEventListener('click', () => selectTab(t));
  $(`#tab-${t}`).addEventListener('keydown', (ev) => {
    const i = tabs.indexOf(t);
    if (ev.key === 'ArrowRight') selectTab(tabs[(i + 1) % tabs.length], true);
    else if (ev.key === 'ArrowLeft') selectTab(tabs[(i + tabs.length - 1) % tabs.length], true);
    else return;
    ev.preventDefault();
  });
}

// ---- settings ------------------------------------------------------------
function showNetwork(n) {
  const proxy = (p) => (p ? `${p.url} (from ${p.variable})` : 'none: direct connection');
  const place = (c) => `${c.path}${c.exists ? '' : ' (not found)'}`;
  const rows = [
    ['Proxy for https', proxy(n.https_proxy)],
    ['Proxy for http', proxy(n.http_proxy)],
  ];
  if (n.no_proxy) rows.push(['Without proxy', n.no_proxy]);
  const roots = ['the bundled web roots'];
  if (n.system_store) roots.push("the system's certificate store");
  if (n.ca_file) roots.push(`SSL_CERT_FILE ${place(n.ca_file)}`);
  if (n.ca_dirs.length) roots.push(`SSL_CERT_DIR ${n.ca_dirs.map(place).join(', ')}`);
  rows.push(['TLS trusts', roots.join('; ')]);
  $('#network').innerHTML = rows
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
    .join('');
}

// The switches and the interval field that follow settings.toml.
function showPreferences(view) {
  for (const [id, on] of [['#keeper-switch', view.keeper], ['#notifications-switch', view.notifications]]) {
    $(id).checked = on;
    $(id).disabled = false;
  }
  const hours = $('#identity-hours');
  if (document.activeElement !== hours) hours.value = view.identity_check_hours;
  hours.disabled = !view.keeper;
  const auto = $('#autostart-switch');
  auto.checked = view.autostart === true;
  auto.disabled = view.autostart == null;
  if (view.autostart == null) $('#autostart-status').textContent = 'Starting at login cannot be set up here.';
}

async function savePreference(change, statusEl, done) {
  try {
    const view = await invoke('set_settings', { change });
    showPreferences(view);
    statusEl.textContent = done(view);
  } catch (e) {
    statusEl.textContent = String(e);
    showPreferences(await invoke('get_settings'));
  }
}

$('#keeper-switch').addEventListener('change', (ev) => savePreference(
  { keeper: ev.target.checked }, $('#keeper-status'),
  (v) => (v.keeper ? 'On: connections are refreshed and checked in the background.'
    : 'Off: tokens are refreshed only when something uses them.'),
));
$('#notifications-switch').addEventListener('change', (ev) => savePreference(
  { notifications: ev.target.checked }, $('#notifications-status'),
  (v) => (v.notifications ? 'On: a notification when a connection needs a new sign-in.'
    : 'Off: only the tray icon shows it.'),
));
$('#identity-hours').addEventListener('change', (ev) => {
  const h = Number(ev.target.value);
  savePreference({ identity_check_hours: h }, $('#identity-status'),
    (v) => `Saved: every ${v.identity_check_hours} h.`);
});
$('#autostart-switch').addEventListener('change', async (ev) => {
  const sw = ev.target;
  const status = $('#autostart-status');
  sw.disabled = true;
  try {
    const view = await invoke('set_autostart', { enabled: sw.checked });
    showPreferences(view);
    status.textContent = view.autostart
      ? 'On: the app starts at login, hidden in the tray.'
      : 'Off: start the app yourself.';
  } catch (e) {
    status.textContent = String(e);
    showPreferences(await invoke('get_settings'));
  }
});

async function loadSettings() {
  const sw = $('#keyring-switch');
  const status = $('#keyring-status');
  const view = await invoke('get_settings');
  showPreferences(view);
  $('#settings-file').textContent = view.settings_file;
  showNetwork(view.network);
  if (snapshot) $('#services-file').textContent = snapshot.services_file;
  sw.checked = view.keyring;
  sw.disabled = true;
  status.textContent = 'Checking whether the keyring answers…';
  const probe = await invoke('probe_keyring');
  if (view.keyring_forced_by_env) {
    status.textContent = `PLANOPTICON_KEYRING is set in the environment and decides: the mirror is ${view.keyring ? 'on' : 'off'}.`;
  } else if (probe.available) {
    sw.disabled = false;
    status.textContent = view.keyring
      ? 'On: each saved token is also kept in the keyring.'
      : 'The keyring is available. Off: tokens are kept in the token files only.';
  } else {
    sw.checked = false;
    status.textContent = `Not available here: ${probe.reason}. Tokens are kept in the token files only.`;
  }
}

$('#keyring-switch').addEventListener('change', async (ev) => {
  const sw = ev.target;
  const status = $('#keyring-status');
  sw.disabled = true;
  try {
    const view = await invoke('set_keyring', { enabled: sw.checked });
    sw.checked = view.keyring;
    status.textContent = (view.keyring
      ? 'On: each token saved from now on is also kept in the keyring, and client secrets saved here go there.'
      : 'Off: tokens are kept in the token files only.') + (view.secrets_note ? ` ${view.secrets_note}` : '');
  } catch (e) {
    sw.checked = false;
    status.textContent = String(e);
  }
  sw.disabled = false;
  sw.focus();
});

// ---- about ---------------------------------------------------------------
let diagnosticsLoaded = false;

async function loadDiagnostics(force = false) {
  if (diagnosticsLoaded && !force) return;
  diagnosticsLoaded = true;
  $('#cli-version').textContent = 'running planopticon --version…';
  $('#cli-status').textContent = 'running planopticon status…';
  const d = await invoke('diagnostics');
  $('#app-version').textContent = d.app_version;
  $('#about-config-dir').textContent = d.config_dir;
  const text = (o) => (o.ok ? o.stdout : `${o.command} failed${o.code != null ? ` (exit ${o.code})` : ''}:\n${o.stderr || o.stdout}`).trimEnd();
  $('#cli-version').textContent = text(d.version);
  $('#cli-version').classList.toggle('failed', !d.version.ok);
  $('#cli-status').textContent = text(d.status);
  $('#cli-status').classList.toggle('failed', !d.status.ok);
}

$('#rerun-diagnostics').addEventListener('click', () => loadDiagnostics(true));

// ---- start ---------------------------------------------------------------
function accept(published) {
  if (published.version < shownVersion) return;
  shownVersion = published.version;
  snapshot = published;
  const dir = snapshot.services_file.replace(/\/services\.toml$/, '');
  $('#config-dir').textContent = dir;
  renderCards();
}

// The browser's own marks of the page's load, as Unix ms.
function pageTiming() {
  const at = (t) => performance.timeOrigin + t;
  const out = [['navigation', performance.timeOrigin]];
  const nav = performance.getEntriesByType('navigation')[0];
  if (nav) {
    for (const k of ['responseEnd', 'domInteractive', 'domContentLoadedEventStart', 'domContentLoadedEventEnd']) {
      if (nav[k]) out.push([k.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`), at(nav[k])]);
    }
  }
  for (const p of performance.getEntriesByType('paint')) out.push([p.name.replace(/-/g, ' '), at(p.startTime)]);
  return out;
}

async function start() {
  // The app puts its first snapshot in the page (an initialization script):
  // the cards are drawn in the first frame. Then the page listens, and asks
  // once for anything that changed in between.
  const marks = [['script start', scriptStart], ['script', Date.now()]];
  const first = window.__PLANOPTICON_FIRST_SNAPSHOT__;
  if (first) accept(first);
  marks.push(['rendered', Date.now()]);
  const ready = () => requestAnimationFrame(() => {
    marks.push(['frame', Date.now()], ...pageTiming());
    invoke('ui_ready', { marks }).catch(() => {});
  });
  if (first) ready();
  await listen('snapshot', (ev) => accept(ev.payload));
  accept(await invoke('snapshot'));
  if (!first) ready();
  document.body.dataset.ready = 'true';
}

start().catch((e) => {
  const root = $('#cards');
  root.innerHTML = `<p class="banner error" role="alert">The window could not reach the app: ${esc(e)}</p>`;
});
