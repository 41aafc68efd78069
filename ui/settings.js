// The tabs, the Settings view (settings.toml's switches, the keyring,
// start at login, the network) and the About view (the bundled CLI).

import { $, esc, invoke, view } from './core.js';

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
  if (view.snapshot) $('#services-file').textContent = view.snapshot.services_file;
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
