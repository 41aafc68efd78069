// The Set up, API key and Add a service forms, and Remove.

import { $, esc, flash, invoke, panels, view } from './core.js';
import { cardOf, copyText, renderCards, showError } from './cards.js';

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
  const bad = f.error ? ' invalid' : '';
  return `<div class="form-field${f.editable ? '' : ' locked'}${bad}" data-field-row="${esc(f.name)}">
    <label for="${esc(id)}">${esc(f.label)} ${source}</label>
    <div class="input-row">
      <input type="${type}" id="${esc(id)}" data-field="${esc(f.name)}" data-original="${esc(f.value)}"
        value="${esc(f.value)}" placeholder="${esc(f.placeholder)}" autocomplete="off" spellcheck="false" ${ro}>
      ${toggle}
    </div>
    ${note}
    <p class="field-error" data-error-for="${esc(f.name)}" role="alert" ${f.error ? '' : 'hidden'}>${esc(f.error ?? '')}</p>
  </div>`;
}

/** What the banner says of a mistake in services.toml: one this form can
 *  repair (a value of the service's own table, marked below), or one left
 *  to be fixed by hand. */
function fileErrorWords(form) {
  if (!form.file_error) return '';
  if (form.repairable) {
    return `services.toml has a value for ${esc(form.display_name)} that cannot be used: ${esc(form.file_error)}. Correct the marked field and Save.`;
  }
  return `services.toml has a mistake, so nothing can be saved until it is fixed by hand: ${esc(form.file_error)}`;
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
    <div class="banner error" data-role="form-error" role="alert" ${form.file_error ? '' : 'hidden'}>${fileErrorWords(form)}</div>
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
  // A value of services.toml that cannot be used: its field shown and focused.
  const bad = panel.querySelector('.form-field.invalid input[data-field]');
  const details = bad?.closest('details');
  if (details) details.open = true;
  (bad || panel.querySelector('input[data-field]:not([readonly])') || panel.querySelector('button')).focus();
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

// A card's Set up and Remove buttons (the card's other buttons: cards.js).
$('#cards').addEventListener('click', async (ev) => {
  const button = ev.target.closest('article > .side button[data-action="setup"], article > .side button[data-action="remove"]');
  if (!button) return;
  const service = button.closest('article').dataset.service;
  const card = cardOf(service);
  if (!card) return;
  if (button.dataset.action === 'setup') await openSetup(service);
  else await removeService(card);
});

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
  $('#remove-text').textContent = `Its table is deleted from ${view.snapshot?.services_file ?? 'services.toml'}`
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
