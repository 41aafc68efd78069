// A card's accounts: the active one named, and when the service has more
// than one, each other with Switch and Disconnect; "Add another account"
// on a connected card. What the buttons do is cards.js's (the same run()
// and confirmation as Connect and Disconnect); the accounts themselves are
// the library's (the app's snapshot lists them).

import { esc } from './core.js';

// Who an account is: its identity when it is more than its name.
function who(a) {
  return a.identity && a.identity !== a.account ? ` <span class="muted">${esc(a.identity)}</span>` : '';
}

function accountLine(a, disabled) {
  const off = disabled ? 'disabled' : '';
  const buttons = a.active
    ? '<span class="pill connected" data-role="active-account">Active</span>'
    : `<button type="button" data-action="switch-account" data-account="${esc(a.account)}" ${off}>Switch</button>
       <button type="button" class="link" data-action="disconnect-account" data-account="${esc(a.account)}" ${off}>Disconnect</button>`;
  const state = a.state === 'connected' ? '' : ` <span class="muted" data-role="account-state">${esc(a.state_label)}</span>`;
  return `<li data-account="${esc(a.account)}" data-active="${a.active}">
    <span class="name" data-role="account-name">${esc(a.account)}</span>${who(a)}${state}
    <span class="account-actions">${buttons}</span></li>`;
}

/** The accounts block of a card (empty with one account and nothing connected). */
export function accountsBlock(card, disabled) {
  const list = card.accounts || [];
  const connected = card.state !== 'not_connected' && card.can_disconnect;
  const add = connected && card.configured && !card.sign_in
    ? `<button type="button" class="link" data-action="add-account" ${disabled ? 'disabled' : ''}>Add another account</button>`
    : '';
  if (list.length < 2) return add ? `<div class="accounts" data-role="accounts">${add}</div>` : '';
  return `<div class="accounts" data-role="accounts">
    <p class="accounts-title">Accounts (${list.length})</p>
    <ul>${list.map((a) => accountLine(a, disabled)).join('')}</ul>${add}</div>`;
}
