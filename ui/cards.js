// The cards: one per service, rendered from the snapshot, and what their
// buttons do (Connect, Cancel, the paste panel, Disconnect). The Set up and
// Remove buttons are forms.js's.

import { $, busy, esc, flash, invoke, panels, pasteOpen, rendered, view } from './core.js';
import { absolute, expiryWords, tickExpiries } from './time.js';
import { accountsBlock } from './accounts.js';

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
  const accounts = signingIn ? '' : accountsBlock(card, busy.has(card.service));
  const body = `${metaLine(card)}${hint}${flashLine}${accounts}${noticeBlock(card)}${signingIn ? waitingPanel(card) : ''}`;
  return `<div class="avatar ${avatarClass(card.service)}" aria-hidden="true">${esc(card.display_name.charAt(0).toUpperCase())}</div>
    <div class="card-title">
      <h2 id="title-${esc(card.service)}">${esc(card.display_name)}
        <span class="origin muted" title="${esc(card.token_path)}">${origin}</span></h2>
    </div>
    <div class="side">${pill}<div class="actions">${actions}</div></div>
    ${body ? `<div class="body">${body}</div>` : ''}`;
}

export function renderCards(force = false) {
  if (!view.snapshot) return;
  const root = $('#cards');
  root.setAttribute('aria-busy', 'false');
  const loading = $('.loading', root);
  if (loading) loading.remove();

  const err = $('#services-error');
  if (view.snapshot.services_error) {
    err.textContent = `services.toml has a mistake; the services it does not touch work as usual. ${view.snapshot.services_error}`;
    err.hidden = false;
  } else {
    err.hidden = true;
  }

  const seen = new Set();
  let previous = null;
  for (const card of view.snapshot.cards) {
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

export function cardOf(service) {
  return view.snapshot?.cards.find((c) => c.service === service);
}

export function showError(service, message) {
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

export async function run(service, command, args = {}) {
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
// `account`: one saved account of the card (not the active one).
function confirmDisconnect(card, account) {
  const dialog = $('#confirm');
  const keep = $('#confirm-keep-grant');
  keep.checked = false;
  const copy = view.snapshot?.keyring ? ' with its keyring copy' : '';
  const where = account ? `its own file beside ${card.token_path}` : card.token_path;
  $('#confirm-title').textContent = account ? `Disconnect ${card.display_name} (${account})?` : `Disconnect ${card.display_name}?`;
  $('#confirm-text').textContent =
    `The token is revoked at the provider where it allows that, then deleted here (${where})${copy}. You can connect again at any time.`;
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
export async function copyText(text, button) {
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
    // 'setup' and 'remove': forms.js.
    case 'add-account':
      flash.delete(service);
      pasteOpen.delete(service);
      await run(service, 'add_account');
      break;
    case 'switch-account':
      await run(service, 'switch_account', { account: button.dataset.account });
      break;
    case 'disconnect-account': {
      const { account } = button.dataset;
      const answer = await confirmDisconnect(card, account);
      if (answer) await run(service, 'disconnect_account', { account, keepGrant: answer.keepGrant });
      $(`article[data-service="${CSS.escape(service)}"] button`)?.focus();
      break;
    }
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
