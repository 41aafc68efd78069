// The desktop app's end-to-end test: a WebDriver client (plain fetch, no
// dependencies) driving the real app through tauri-driver. Started by
// tests/e2e/run.sh, which provides the display, the session bus, the OAuth
// server, HOME and these variables:
//   E2E_APP, E2E_CLI       the app and CLI binaries
//   E2E_SHOTS              where screenshots go
//   E2E_TMP                scratch folder (logs)
//   E2E_BROWSER_CTL        file holding the fake browser's behaviour (see browser.sh)
//   E2E_NOTIFY_LOG         dbus-monitor's record of the Notify calls that reached
//                          the test's notification server (dunst)
// Prints one line per check and "N passed, N failed" last; exit 1 on any failure.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const env = process.env;
const APP = env.E2E_APP;
const CLI = env.E2E_CLI;
const SHOTS = env.E2E_SHOTS;
const TMP = env.E2E_TMP;
const HOME = env.HOME;
const TOKEN = path.join(HOME, '.planopticon', 'acme_token.json');
const ZOOM_TOKEN = path.join(HOME, '.planopticon', 'zoom_token.json');

let passed = 0;
let failed = 0;
const started = Date.now();
const info = (msg) => console.log(`# ${msg}`);

function check(name, ok, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
  return ok;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function browserDoes(mode) {
  fs.writeFileSync(env.E2E_BROWSER_CTL, mode);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

let shotNo = 0;
/** Screenshot of the whole display, once the window has painted what the
 *  DOM holds (WebKit paints a little after the DOM changes), with `service`'s
 *  card scrolled into view. */
async function screenshot(name, service = 'acme') {
  if (sid) {
    await exec('document.querySelector(arguments[0])?.scrollIntoView({block: "center"}); return true;', CARD(service))
      .catch(() => {});
    await wd('POST', `/session/${sid}/execute/async`, {
      script: 'const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));',
      args: [],
    }).catch(() => {});
  }
  await sleep(500);
  shotNo += 1;
  const file = path.join(SHOTS, `${String(shotNo).padStart(2, '0')}-${name}.png`);
  const r = spawnSync('import', ['-window', 'root', file], { timeout: 15000 });
  if (r.status !== 0) info(`screenshot ${name} failed: ${r.stderr}`);
  return file;
}

// ---- WebDriver --------------------------------------------------------------
let base = '';
let sid = '';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

async function wd(method, url, body) {
  const r = await fetch(base + url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${method} ${url}: HTTP ${r.status}: ${text.slice(0, 300)}`);
  }
  if (!r.ok || (json.value && json.value.error)) {
    throw new Error(`${method} ${url}: ${json.value?.error}: ${json.value?.message}`);
  }
  return json.value;
}

const exec = (script, ...args) => wd('POST', `/session/${sid}/execute/sync`, { script, args });

async function find(css) {
  const v = await wd('POST', `/session/${sid}/element`, { using: 'css selector', value: css });
  return v[ELEMENT];
}

/** Clicks the element `css` selects. The cards are re-rendered when the
 *  files change, which can replace the element between finding and
 *  clicking it; then it is found again. */
async function click(css) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      const id = await find(css);
      await wd('POST', `/session/${sid}/element/${id}/click`, {});
      return;
    } catch (e) {
      if (attempt >= 3 || !/stale element/.test(e.message)) throw e;
    }
  }
}

/** Key presses sent to an element (WebDriver key codes: \uE007 Enter, \uE00C Escape). */
async function keys(css, text) {
  const id = await find(css);
  await wd('POST', `/session/${sid}/element/${id}/value`, { text });
}

async function stats() {
  return (await fetch(`${env.E2E_ISSUER}/_test/stats`)).json();
}

async function typeInto(css, text) {
  const id = await find(css);
  await wd('POST', `/session/${sid}/element/${id}/value`, { text });
}

/** Polls `fn` until it returns a truthy value; returns it, or null on timeout. */
async function waitFor(fn, ms = 15000, every = 50) {
  const end = Date.now() + ms;
  for (;;) {
    let v;
    try {
      v = await fn();
    } catch (e) {
      v = null;
    }
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(every);
  }
}

const CARD = (s) => `article[data-service="${s}"]`;

function card(service) {
  return exec(`
    const el = document.querySelector(arguments[0]);
    if (!el) return null;
    const t = (sel) => el.querySelector(sel)?.textContent?.trim() ?? null;
    return {
      state: el.dataset.state, method: el.dataset.method, signingIn: el.dataset.signingIn === 'true',
      label: t('[data-role="state-label"]'), account: t('[data-role="account"]'), detail: t('[data-role="detail"]'),
      notice: t('[data-role="notice-text"]'), localError: t('[data-role="local-error"]'),
      actions: [...el.querySelectorAll('button[data-action]')].map((b) => b.dataset.action),
      authUrl: el.querySelector('[data-role="auth-url"]')?.value ?? null,
      waiting: t('.waiting .what'),
    };`, CARD(service));
}

function fileMode(p) {
  try {
    return (fs.statSync(p).mode & 0o777).toString(8);
  } catch {
    return null;
  }
}

// ---- processes ----------------------------------------------------------
const children = [];
/** Starts tauri-driver; the app it launches inherits `extraEnv`. */
async function startDriver(extraEnv = {}) {
  const port = await freePort();
  const nativePort = await freePort();
  const log = fs.openSync(path.join(TMP, 'tauri-driver.log'), 'a');
  const child = spawn('tauri-driver', ['--port', String(port), '--native-port', String(nativePort)], {
    stdio: ['ignore', log, log],
    env: { ...env, ...extraEnv },
  });
  children.push(child);
  base = `http://127.0.0.1:${port}`;
  return (await waitFor(async () => (await fetch(`${base}/status`)).ok, 10000, 100)) ? child : null;
}

/** Stops a child and waits for it to be gone. */
async function stop(child) {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
  }
}

function stopAll() {
  for (const c of children.reverse()) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
}

process.on('exit', stopAll);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** The app's processes (started by WebKitWebDriver) and their WebKit helpers. */
function appProcesses() {
  const ps = spawnSync('ps', ['-eo', 'pid=,ppid=,rss=,args='], { encoding: 'utf8' }).stdout;
  const rows = ps.split('\n').filter(Boolean).map((l) => {
    const [pid, ppid, rss, ...args] = l.trim().split(/\s+/);
    return { pid: +pid, ppid: +ppid, rss: +rss, args: args.join(' ') };
  });
  const app = rows.filter((r) => r.args.startsWith(APP));
  const ids = new Set(app.map((r) => r.pid));
  return { app, webkit: rows.filter((r) => ids.has(r.ppid) && /WebKit/.test(r.args)) };
}

function rssOfAppAndWebKit() {
  const { app, webkit } = appProcesses();
  const kb = [...app, ...webkit].reduce((a, r) => a + r.rss, 0);
  return { mb: Math.round(kb / 1024), processes: app.length + webkit.length };
}

// ---- the X display: windows, the tray, a window manager -------------------
const xdotool = (...args) => spawnSync('xdotool', args, { encoding: 'utf8', timeout: 5000 });
const TITLE = 'PlanOpticon Auth';
const windowShown = () => xdotool('search', '--onlyvisible', '--name', `^${TITLE}$`).stdout.trim() !== '';

/** Opens the tray menu with a click on the app's icon (the only one in the
 *  tray host, trayer) and picks an item by keyboard: `key` is one key or a
 *  list pressed in turn; 'Down' is the first enabled item, 'Up' the last
 *  (Quit). */
async function trayPick(key, shot) {
  const win = xdotool('search', '--onlyvisible', '--class', 'trayer').stdout.trim().split('\n')[0];
  if (!win) throw new Error('the tray host (trayer) is not on the display');
  const geo = Object.fromEntries(xdotool('getwindowgeometry', '--shell', win).stdout.trim().split('\n').map((l) => l.split('=')));
  await sleep(700); // the menu is rebuilt on the 500 ms poll at the latest
  xdotool('mousemove', String(+geo.X + 12), String(+geo.Y + Math.floor(+geo.HEIGHT / 2)), 'click', '1');
  await sleep(800);
  if (shot) await screenshot(shot);
  for (const k of [].concat(key)) {
    xdotool('key', k);
    await sleep(150);
  }
  xdotool('key', 'Return');
}

/** Picks "Log out of NAME" in the tray menu. The menu starts with one such
 *  item per connected service (connected or expired-refreshable, not an API
 *  key), sorted by display name (tray::tray_items); the item's position is
 *  worked out the same way from the cards the window shows, so it holds
 *  whichever services are connected. The caller checks the effect (that
 *  service, and only it, logged out), which catches a wrong position. */
async function trayLogOut(name, shot) {
  const connected = await exec(`
    return [...document.querySelectorAll('article[data-service]')]
      .filter((e) => ['connected', 'expired_refreshable'].includes(e.dataset.state) && e.dataset.method !== 'api_key')
      .map((e) => (e.querySelector('h2')?.firstChild?.textContent ?? e.dataset.service).trim());`);
  const sorted = [...connected].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const at = sorted.indexOf(name);
  if (at < 0) throw new Error(`no "Log out of ${name}" in the tray menu: connected ${JSON.stringify(sorted)}`);
  info(`tray menu: "Log out of ${name}" is item ${at + 1} of ${JSON.stringify(sorted)}`);
  await trayPick(Array(at + 1).fill('Down'), shot);
}

// ---- the test -----------------------------------------------------------
async function newSession() {
  const caps = {
    capabilities: {
      alwaysMatch: { browserName: 'wry', 'tauri:options': { application: APP } },
    },
  };
  // tauri-driver sometimes loses its connection to WebKitWebDriver
  // ("Connection reset by peer"); a retry of the request gets through.
  let last;
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    try {
      const v = await wd('POST', '/session', caps);
      return v.sessionId;
    } catch (e) {
      last = e;
      info(`session request ${attempt} failed: ${e.message}`);
      await sleep(1000);
    }
  }
  throw last;
}

async function main() {
  const driver = await startDriver();
  if (!check('tauri-driver answers', !!driver)) return;

  browserDoes('normal');
  const t0 = Date.now();
  sid = await newSession();
  const ready = await waitFor(() => exec(
    'return document.body.dataset.ready === "true" && document.querySelectorAll("article[data-service]").length',
  ), 15000, 20);
  const launchMs = Date.now() - t0;
  info(`launch (session request) to cards interactive: ${launchMs} ms`);
  check('the window shows one card per service (7 built-ins + acme)', ready === 8, `cards: ${ready}`);
  await sleep(300);
  const rss = rssOfAppAndWebKit();
  info(`resident memory, app + WebKit (${rss.processes} processes): ${rss.mb} MB`);

  const names = await exec('return [...document.querySelectorAll("article[data-service]")].map(e => e.dataset.service)');
  check('built-ins first, then services.toml',
    JSON.stringify(names) === JSON.stringify(['google', 'dropbox', 'zoom', 'notion', 'github', 'microsoft', 'plane', 'acme']),
    JSON.stringify(names));
  check('with a light system theme the window is light',
    (await exec('return matchMedia("(prefers-color-scheme: dark)").matches')) === false);
  const google = await card('google');
  check('a service with nothing configured says, in one short line, that it needs set-up (the variables are in its form)',
    google?.state === 'not_connected' && google.detail === 'Needs set-up.' && google.actions.includes('setup'), JSON.stringify(google));
  let acme = await card('acme');
  check('acme starts not connected, with Connect', acme?.state === 'not_connected' && acme.actions.includes('connect'),
    JSON.stringify(acme));
  await screenshot('cards', 'google');

  // --- Connect: loopback, browser opened, waiting state, paste path shown ---
  browserDoes('delay 3');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.signingIn && c.actions.includes('paste-open') && c; }, 5000);
  check('Connect shows "waiting for the browser" with Cancel and "Paste code instead"',
    acme && /Waiting for the browser/.test(acme.waiting) && acme.actions.includes('cancel'), JSON.stringify(acme));
  await screenshot('waiting-for-browser');
  await click(`${CARD('acme')} button[data-action="paste-open"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.authUrl && c; }, 3000);
  check('"Paste code instead" shows the authorization URL and a copy button',
    acme && acme.authUrl.startsWith(`${env.E2E_ISSUER}/auth?`) && acme.actions.includes('copy')
      && /code_challenge_method=S256/.test(acme.authUrl), JSON.stringify(acme));
  await screenshot('paste-code-instead');

  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'connected' && !c.signingIn && c; }, 30000);
  check('the browser comes back and the card turns connected', !!acme, JSON.stringify(await card('acme')));
  check('the method is oauth_pkce', acme?.method === 'oauth_pkce', acme?.method);
  check('Disconnect is offered', acme?.actions.includes('disconnect'), JSON.stringify(acme?.actions));
  check('the card names the account that signed in', /alice@example\.test/.test(acme?.account ?? ''), acme?.account);
  check('the token file exists with mode 0600', fileMode(TOKEN) === '600', `mode ${fileMode(TOKEN)}`);
  const browsed = fs.existsSync(env.E2E_BROWSER_LOG) ? fs.readFileSync(env.E2E_BROWSER_LOG, 'utf8') : '';
  check('the browser was opened at the provider (BROWSER honoured)', browsed.includes(`${env.E2E_ISSUER}/auth?`), browsed);
  await sleep(200);
  await screenshot('connected');

  // --- the tray: its menu lists acme with Log out ---
  await trayChecks();

  // --- Disconnect with confirmation (keyboard: Escape cancels, Enter confirms) ---
  const revokedBefore = (await stats()).revocation;
  await click(`${CARD('acme')} button[data-action="disconnect"]`);
  const dialogOpen = await waitFor(() => exec('return document.querySelector("#confirm").open && document.querySelector("#confirm-title").textContent'), 3000);
  check('Disconnect asks for a confirmation', dialogOpen === 'Disconnect Acme?', String(dialogOpen));
  const focused = await exec('return document.activeElement && document.activeElement.id');
  check('the confirmation has the focus on its Disconnect button', focused === 'confirm-ok', String(focused));
  await screenshot('disconnect-confirmation');
  await keys('#confirm-ok', '\uE00C'); // Escape
  const closed = await waitFor(async () => (await exec('return !document.querySelector("#confirm").open')), 3000);
  check('Escape closes the confirmation and keeps the connection',
    closed && (await card('acme'))?.state === 'connected' && fs.existsSync(TOKEN));
  await click(`${CARD('acme')} button[data-action="disconnect"]`);
  await waitFor(() => exec('return document.querySelector("#confirm").open'), 3000);
  await keys('#confirm-ok', '\uE007'); // Enter
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'not_connected' && c; }, 5000);
  check('Enter confirms: after Disconnect the card is cleared', !!acme, JSON.stringify(await card('acme')));
  check('and the token file is gone', !fs.existsSync(TOKEN));
  check('and the token was revoked at the provider', (await stats()).revocation > revokedBefore);
  check('with nothing to report on the card', acme && acme.notice === null, acme?.notice);

  // --- errors on the card, in plain words ---
  browserDoes('deny');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.notice && !c.signingIn && c; }, 20000);
  check('a refusal at the provider shows its words on the card',
    acme && /refused at the provider: access_denied/.test(acme.notice) && acme.state === 'not_connected', JSON.stringify(acme));
  await screenshot('error-on-card');
  await click(`${CARD('acme')} button[data-action="dismiss"]`);
  check('the notice can be dismissed', await waitFor(async () => (await card('acme'))?.notice === null, 3000));

  // --- Cancel ends a wait that would never end ---
  browserDoes('hang');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  await waitFor(async () => (await card('acme'))?.actions.includes('cancel'), 5000);
  await click(`${CARD('acme')} button[data-action="cancel"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return !c.signingIn && c.notice && c; }, 5000);
  check('Cancel ends the sign-in', acme?.notice === 'Sign-in cancelled.' && acme.state === 'not_connected', JSON.stringify(acme));

  // --- "Paste a code": a sign-in that asks for the code from the start ---
  await click(`${CARD('acme')} button[data-action="connect-paste"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.authUrl && c; }, 5000);
  check('"Paste a code" starts a sign-in that asks for the code at once',
    acme && acme.signingIn && /paste the code/.test(acme.waiting) && !acme.actions.includes('paste-open')
      && acme.authUrl.startsWith(`${env.E2E_ISSUER}/auth?`), JSON.stringify(acme));
  await click(`${CARD('acme')} button[data-action="cancel"]`);
  await waitFor(async () => { const c = await card('acme'); return !c.signingIn && c; }, 5000);
  await click(`${CARD('acme')} button[data-action="dismiss"]`).catch(() => {});

  // --- a wrong paste is an error, not a silent nothing ---
  await click(`${CARD('acme')} button[data-action="connect"]`);
  await waitFor(async () => (await card('acme'))?.actions.includes('paste-open'), 5000);
  await click(`${CARD('acme')} button[data-action="paste-open"]`);
  await waitFor(async () => (await card('acme'))?.authUrl, 3000);
  await typeInto(`${CARD('acme')} [data-role="code"]`, 'http://127.0.0.1/callback?code=x&state=forged');
  await click(`${CARD('acme')} form[data-role="paste-form"] button[type="submit"]`);
  acme = await waitFor(async () => { const c = await card('acme'); return !c.signingIn && c.notice && c; }, 5000);
  check('a pasted address that is not ours is refused on the card', acme && acme.notice.length > 0 && acme.state === 'not_connected',
    JSON.stringify(acme));
  await click(`${CARD('acme')} button[data-action="dismiss"]`).catch(() => {});

  // --- device sign-in: the card shows an address and a code; approving it elsewhere connects ---
  await click(`${CARD('acme')} button[data-action="connect-device"]`);
  const shown = await waitFor(async () => exec(`
    const el = document.querySelector(arguments[0]);
    const code = el?.querySelector('[data-role="user-code"]')?.textContent?.trim();
    const url = el?.querySelector('[data-role="auth-url"]')?.value;
    return code && url ? { code, url } : null;`, CARD('acme')), 10000);
  check('"Use a code" shows the device address and the code', !!shown, JSON.stringify(shown));
  if (shown) {
    const approver = new URL('../oidc/browser', import.meta.url).pathname;
    const approve = spawnSync(approver, ['--device', shown.url, shown.code], { encoding: 'utf8', timeout: 30000 });
    check('the code is approved at the provider', approve.status === 0, approve.stderr);
    // The library polls at the server's interval (5 s by default).
    acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'connected' && c; }, 20000);
    check('a device sign-in turns the card connected', acme?.method === 'device_code', JSON.stringify(acme));
    // Disconnect, keeping the grant at the provider (shared with another machine).
    const revokedBefore = (await stats()).revocation;
    await click(`${CARD('acme')} button[data-action="disconnect"]`);
    await waitFor(() => exec('return document.querySelector("#confirm").open'), 3000);
    const mentionsKeyring = await exec('return /keyring/.test(document.querySelector("#confirm-text").textContent)');
    check('the confirmation names no keyring copy while the mirror is off', mentionsKeyring === false);
    await click('#confirm-keep-grant');
    await screenshot('disconnect-keep-grant');
    await keys('#confirm-ok', '\uE007'); // Enter
    acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'not_connected' && c; }, 5000);
    check('"Only forget it on this computer" deletes the token here', !!acme && !fs.existsSync(TOKEN), JSON.stringify(acme));
    check('and leaves the grant at the provider', (await stats()).revocation === revokedBefore);
  }

  // --- the CLI changes what the open window shows ---
  browserDoes('normal');
  const cli = spawnSync(CLI, ['auth', 'acme'], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
  const cliDone = Date.now();
  check('`planopticon auth acme` succeeds', cli.status === 0, `${cli.status} ${cli.stdout} ${cli.stderr}`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'connected' && c; }, 5000, 25);
  const seenMs = Date.now() - cliDone;
  // Seen through a file-system event (the app no longer polls the files).
  check(`the card turns connected after the CLI's sign-in within 1 s (${seenMs} ms)`, acme && seenMs <= 1000, JSON.stringify(acme));
  check('with the method the CLI used (oauth_pkce)', acme?.method === 'oauth_pkce', acme?.method);
  await screenshot('connected-by-cli');
  const out = spawnSync(CLI, ['auth', 'acme', '--logout'], { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'] });
  const outDone = Date.now();
  check('`planopticon auth acme --logout` succeeds', out.status === 0, `${out.status} ${out.stderr}`);
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'not_connected' && c; }, 5000, 25);
  const clearMs = Date.now() - outDone;
  check(`the card clears after the CLI's logout within 2 s (${clearMs} ms)`, acme && clearMs <= 2000, JSON.stringify(acme));
  check('the token file is gone after the CLI logout', !fs.existsSync(TOKEN));

  // --- several accounts: add a second, switch (window, tray, CLI), disconnect one ---
  await accounts();

  // --- Settings: the keyring switch ---
  await click('#tab-settings');
  const keyring = await waitFor(() => exec(`
    const s = document.querySelector('#keyring-status').textContent;
    return !/^Checking/.test(s) && { text: s, disabled: document.querySelector('#keyring-switch').disabled };`), 8000);
  check('Settings says whether the keyring answers (no hang)', !!keyring, JSON.stringify(keyring));
  check('with an unlocked keyring the switch can be used', keyring && !keyring.disabled, JSON.stringify(keyring));
  await screenshot('settings');

  // --- About: the bundled CLI run through the shell plugin ---
  await click('#tab-about');
  const about = await waitFor(() => exec(`
    const v = document.querySelector('#cli-version').textContent, s = document.querySelector('#cli-status').textContent;
    return !/^running/.test(v) && !/^running/.test(s) && { v, s };`), 20000);
  check('About shows the bundled `planopticon --version`', about && /^planopticon \d+\.\d+\.\d+/.test(about.v), JSON.stringify(about?.v));
  check('and `planopticon status` listing acme', about && /SERVICE/.test(about.s) && /\bacme\b/.test(about.s), JSON.stringify(about?.s));
  await screenshot('about');
  await click('#tab-services');

  // --- one instance at a time ---
  const second = spawnSync(APP, [], { timeout: 15000, stdio: 'ignore' });
  check('a second launch exits and leaves the first one running',
    second.status !== null && second.error === undefined && (await exec('return 1')) === 1,
    `status ${second.status} signal ${second.signal} ${second.error ?? ''}`);

  // --- closing hides to the tray; the tray's Quit ends the app ---
  await closeToTray();
  await wd('DELETE', `/session/${sid}`).catch(() => {});
  sid = '';
  await stop(driver);

  // --- a dark system theme ---
  await darkTheme();

  // --- a built-in service: Zoom, connected in the window, logged out from the tray ---
  await zoom();

  // --- a connection that needs a person: notification, tray attention, Reconnect ---
  await attention();

  // --- Settings: start at login, keeper and notification switches; --hidden ---
  await settingsAndAutostart();
  await startedHidden();

  // --- Set up, API key and Add a service forms, in a HOME with nothing configured ---
  await setUpForms();

  // --- a provider's words with terminal escapes, markup and a bidi override ---
  await untrustedWords();
}

/** Words from outside (a provider's refusal kept in the token file, the
 *  account, a services.toml display name) carrying ESC ] 0 ; title BEL,
 *  ESC [ 2 J, a C1 CSI (U+009B), a right-to-left override (U+202E) and
 *  markup: the card, the tray's label and tooltip, and the notification's
 *  body show them escaped (`\x1b`, `\u{202e}`; `&lt;` in the body). */
async function untrustedWords() {
  await previousAppGone();
  const home = path.join(TMP, 'untrusted-home');
  const po = path.join(home, '.planopticon');
  fs.mkdirSync(po, { recursive: true, mode: 0o700 });
  const hostile = 'Eve \u001b]0;owned\u0007 \u001b[2J \u009b31m txt\u202eexe.txt <b>&amp;';
  const shown = 'Eve \\x1b]0;owned\\x07 \\x1b[2J \\x9b31m txt\\u{202e}exe.txt';
  // The TOML string: every character by its escape.
  const tomlName = [...hostile].map((c) => (c.charCodeAt(0) < 0x20 || c.charCodeAt(0) >= 0x7f
    ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c)).join('');
  fs.writeFileSync(path.join(po, 'services.toml'), `[evil]
display_name = "${tomlName}"
oauth_authorize_url = "http://127.0.0.1:9/auth"
oauth_token_url = "http://127.0.0.1:9/token"
client_id = "public-native"
redirect_uri = "http://127.0.0.1/callback"
`);
  const now = Date.now() / 1000;
  fs.writeFileSync(path.join(po, 'evil_token.json'), JSON.stringify({
    access_token: 'at', refresh_token: 'rt', expires_at: now + 3600, client_id: 'public-native',
    account: { name: hostile },
    needs_reconnect: { reason: `the provider no longer accepts the saved connection (invalid_grant: ${hostile})`, at: now },
  }), { mode: 0o600 });
  // (A page's own line breaks and indentation are no provider's words.)
  const raw = (text) => /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/.test(text ?? '');
  const before = notifyCalls().length;
  const driver = await startDriver({ HOME: home });
  if (!check('tauri-driver answers (a provider\'s hostile words)', !!driver)) return;
  try {
    sid = await newSession();
    const evil = await waitFor(async () => { const c = await card('evil'); return c?.state === 'needs_reconnect' && c; }, 15000);
    const text = await exec('return document.querySelector(arguments[0])?.textContent ?? ""', CARD('evil'));
    check('the card shows the provider\'s words escaped, none of them acting',
      !!evil && !raw(text) && evil.detail?.includes(shown) && (evil.account ?? shown).includes(shown)
        && text.split(shown).length >= 3, // the name and the reason at least
      JSON.stringify({ evil, text }));
    const tray = await waitFor(async () => { const t = await invoke('tray_view'); return t?.attention && t; }, 5000);
    check('the tray\'s label and tooltip show the name escaped',
      tray?.items?.[0]?.startsWith(`Reconnect ${shown}`) && tray.tooltip.includes(shown) && !raw(JSON.stringify(tray.items)) && !raw(tray.tooltip),
      JSON.stringify(tray));
    const told = await waitFor(() => notifyCalls().slice(before).find((c) => c.some((s) => s.includes('needs reconnecting'))), 10000);
    const body = told?.[3] ?? '';
    check('the notification shows the words escaped, markup as text',
      !!told && !told.some(raw) && body.includes(shown) && body.includes('&lt;b&gt;&amp;amp;') && !body.includes('<b>'),
      JSON.stringify(told ?? notifyCalls().slice(before)));
    await screenshot('untrusted-words', 'evil');
  } finally {
    await wd('DELETE', `/session/${sid}`).catch(() => {});
    sid = '';
    await stop(driver);
  }
}

// ---- several accounts of one service (issue 18) -----------------------------

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';
const SLOT = (name) => path.join(HOME, '.planopticon', 'accounts', 'acme', `${name}_token.json`);

/** The accounts acme's card lists: [{ account, active }], in its order. */
function cardAccounts() {
  return exec(`
    return [...document.querySelectorAll(arguments[0] + ' [data-role="accounts"] li[data-account]')]
      .map((li) => ({ account: li.dataset.account, active: li.dataset.active === 'true' }));`, CARD('acme'));
}

/** Waits until acme's card shows `who` as its account, with `count` accounts listed. */
async function cardShows(who, count) {
  return waitFor(async () => {
    const c = await card('acme');
    const list = await cardAccounts();
    const active = list.find((a) => a.active);
    const ok = c?.state === 'connected' && !c.signingIn && (c.account ?? "").includes(who) && list.length === count
      && (count === 0 || active?.account === who);
    return ok && { ...c, list };
  }, 10000);
}

/** Picks the tray menu's item labelled `label`, by keyboard: its position
 *  among the enabled items (not separators or plain labels) of the menu
 *  the app reports (tray_view). */
async function trayPickLabel(label, shot) {
  const view = await waitFor(async () => { const t = await invoke('tray_view'); return t?.items?.includes(label) && t; }, 5000);
  if (!view) throw new Error(`no "${label}" in the tray menu: ${JSON.stringify(await invoke('tray_view'))}`);
  const enabled = view.items.filter((l) => l !== '---' && l !== 'No service connected');
  const at = enabled.indexOf(label);
  info(`tray menu: "${label}" is enabled item ${at + 1} of ${JSON.stringify(enabled)}`);
  await trayPick(Array(at + 1).fill('Down'), shot);
}

/** The window's "Add another account", Switch and per-account Disconnect,
 *  the tray's per-account items, and a CLI switch seen in the open window,
 *  against the test provider signing in two people (alice, then bob). */
async function accounts() {
  browserDoes('normal');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  let acme = await cardShows(ALICE, 0);
  check('accounts: alice connects; one account, no switcher', !!acme, JSON.stringify(await card('acme')));
  check('accounts: a connected card offers "Add another account"', acme?.actions.includes('add-account'), JSON.stringify(acme?.actions));

  // Add bob from the window: the same sign-in as Connect, as another person.
  browserDoes(`login bob`);
  await click(`${CARD('acme')} button[data-action="add-account"]`);
  acme = await cardShows(BOB, 2);
  check('accounts: "Add another account" signs bob in and makes him active; the card lists both',
    !!acme, JSON.stringify({ card: await card('acme'), list: await cardAccounts() }));
  check('accounts: alice is kept in her own file', fs.existsSync(SLOT(ALICE)) && fileMode(SLOT(ALICE)) === '600',
    `mode ${fileMode(SLOT(ALICE))}`);
  check('accounts: the documented file holds bob\'s token', tokenFile()?.access_token !== tokenFile(SLOT(ALICE))?.access_token
    && /bob/.test(JSON.stringify(tokenFile()?.account ?? '')), JSON.stringify(tokenFile()?.account));
  browserDoes('normal');
  await screenshot('accounts-two');

  // The tray: per-account items; Switch from the tray.
  const tray = await invoke('tray_view');
  check('accounts: the tray names the active account and offers Switch and Log out for the other',
    tray?.items?.includes(`Log out of Acme (${BOB})`) && tray.items.includes(`Switch Acme to ${ALICE}`)
      && tray.items.includes(`Log out of Acme (${ALICE})`), JSON.stringify(tray?.items));
  let aliceToken = tokenFile(SLOT(ALICE))?.access_token;
  await trayPickLabel(`Switch Acme to ${ALICE}`, 'accounts-tray-menu');
  acme = await cardShows(ALICE, 2);
  check('accounts: the tray\'s "Switch Acme to alice" makes alice active on the card', !!acme,
    JSON.stringify({ card: await card('acme'), list: await cardAccounts() }));
  check('accounts: and the documented file holds alice\'s token (bob\'s kept beside)',
    !!aliceToken && tokenFile()?.access_token === aliceToken && fs.existsSync(SLOT(BOB)) && !fs.existsSync(SLOT(ALICE)));

  // Switch in the window.
  const bobToken = tokenFile(SLOT(BOB))?.access_token;
  await click(`${CARD('acme')} li[data-account="${BOB}"] button[data-action="switch-account"]`);
  acme = await cardShows(BOB, 2);
  check('accounts: Switch on the card makes bob active and the card shows him', !!acme,
    JSON.stringify({ card: await card('acme'), list: await cardAccounts() }));
  check('accounts: the documented file changed to bob\'s token',
    !!bobToken && tokenFile()?.access_token === bobToken && tokenFile(SLOT(ALICE))?.access_token === aliceToken);
  await screenshot('accounts-switched-in-window');

  // A CLI switch shows up in the open window (the watcher follows accounts/).
  const cli = spawnSync(CLI, ['switch', 'acme', ALICE], { encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'] });
  check('accounts: `planopticon switch acme alice` succeeds', cli.status === 0, `${cli.status} ${cli.stdout} ${cli.stderr}`);
  acme = await cardShows(ALICE, 2);
  check('accounts: the open window follows the CLI\'s switch', !!acme, JSON.stringify(await card('acme')));

  // Disconnect one (bob, not active): confirmation, then only his token goes.
  const revokedBefore = (await stats()).revocation;
  await click(`${CARD('acme')} li[data-account="${BOB}"] button[data-action="disconnect-account"]`);
  const title = await waitFor(() => exec('return document.querySelector("#confirm").open && document.querySelector("#confirm-title").textContent'), 3000);
  check('accounts: disconnecting bob asks, naming him', title === `Disconnect Acme (${BOB})?`, String(title));
  await screenshot('accounts-disconnect-one');
  await keys('#confirm-ok', '\uE007'); // Enter
  acme = await cardShows(ALICE, 0);
  check('accounts: bob is signed out; alice stays active, the switcher goes', !!acme && !fs.existsSync(SLOT(BOB)),
    JSON.stringify({ card: await card('acme'), list: await cardAccounts() }));
  check('accounts: bob\'s token was revoked at the provider', (await stats()).revocation > revokedBefore);
  check('accounts: alice\'s token is untouched', tokenFile()?.access_token === aliceToken);
  await screenshot('accounts-one-left');

  // Back to nothing connected for what follows.
  await click(`${CARD('acme')} button[data-action="disconnect"]`);
  await waitFor(() => exec('return document.querySelector("#confirm").open'), 3000);
  await keys('#confirm-ok', '\uE007');
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'not_connected' && c; }, 5000);
  check('accounts: Disconnect of the last account clears the card and the documented file', !!acme && !fs.existsSync(TOKEN),
    JSON.stringify(await card('acme')));
}

/** The tray menu (trayer as the tray host): seen, and acme logged out from it. */
async function trayChecks() {
  // Only acme is connected here: "Log out of Acme" is the first item.
  await trayLogOut('Acme', 'tray-menu');
  const acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'not_connected' && c; }, 5000);
  check('the tray menu\'s "Log out of Acme" logs acme out', !!acme && !fs.existsSync(TOKEN), JSON.stringify(await card('acme')));
  // Connect again for the window's own Disconnect test.
  browserDoes('normal');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  await waitFor(async () => (await card('acme'))?.state === 'connected', 20000);
}

/** Closing the window the way a user does, through a window manager
 *  (openbox, started here), hides it; the app stays in the tray; a second
 *  launch or the tray's "Open PlanOpticon" shows it again; the tray's Quit
 *  ends the app and its WebKit processes. Leaves acme not connected. */
async function closeToTray() {
  const log = fs.openSync(path.join(TMP, 'openbox.log'), 'a');
  const wm = spawn('openbox', ['--sm-disable'], { stdio: ['ignore', log, log] });
  children.push(wm);
  const wmctrl = (...args) => spawnSync('wmctrl', args, { encoding: 'utf8', timeout: 5000 });
  const managed = await waitFor(() => wmctrl('-l').stdout.includes(TITLE), 10000, 100);
  if (!check('a window manager (openbox) manages the window', !!managed, wmctrl('-l').stderr)) return;
  const [app] = appProcesses().app;
  const close = async () => {
    wmctrl('-c', TITLE);
    return waitFor(() => !windowShown(), 5000);
  };

  check('closing the window hides it', await close());
  check('and the app keeps running, its page alive',
    !!app && (await exec('return document.body.dataset.ready')) === 'true' && appProcesses().app.length === 1);
  await screenshot('closed-to-tray');
  spawnSync(APP, [], { timeout: 15000, stdio: 'ignore' });
  check('a second launch shows the hidden window again', await waitFor(windowShown, 5000));

  check('closed again', await close());
  await trayPick('Down', 'tray-menu-nothing-connected'); // "Open PlanOpticon": nothing is connected
  check('the tray\'s "Open PlanOpticon" shows it again', await waitFor(windowShown, 5000));

  await trayPick('Up'); // "Quit"
  const quit = await waitFor(() => { const p = appProcesses(); return p.app.length === 0 && p.webkit.length === 0; }, 10000, 100);
  check('the tray\'s Quit ends the app and its WebKit processes', !!quit, JSON.stringify(appProcesses()));
  await stop(wm);
}

/** The window follows the system theme: the app started again with GTK's
 *  dark theme (GTK_THEME=Adwaita:dark) renders dark. */
async function darkTheme() {
  const driver = await startDriver({ GTK_THEME: 'Adwaita:dark' });
  if (!check('tauri-driver answers (dark theme)', !!driver)) return;
  sid = await newSession();
  const bg = await waitFor(() => exec(`
    return document.body.dataset.ready === "true" && matchMedia("(prefers-color-scheme: dark)").matches
      && getComputedStyle(document.body).backgroundColor;`), 15000, 50);
  check('with a dark system theme the window is dark', bg === 'rgb(22, 24, 29)', String(bg));
  await screenshot('dark-theme', 'google');
  await wd('DELETE', `/session/${sid}`).catch(() => {});
  sid = '';
  await stop(driver);
}

/** The built-in Zoom card, its endpoints pointed at the test server by the
 *  `[zoom]` table run.sh writes and its client given by ZOOM_CLIENT_ID and
 *  ZOOM_CLIENT_SECRET (the confidential client; no ZOOM_ACCOUNT_ID, so not
 *  server-to-server): Connect goes through the browser and the loopback
 *  redirect; then, with acme connected too (two "Log out" items in the tray
 *  menu), the tray's "Log out of Zoom" logs out Zoom and only Zoom. Zoom's
 *  revocation points at a closed port (see run.sh), so the logout must
 *  remove the token anyway and say the provider was not told. Its own launch
 *  of the app, after the others (their screenshots keep their numbers). */
async function zoom() {
  // The previous app must be gone, or this launch would be its second instance.
  await previousAppGone();
  const driver = await startDriver();
  if (!check('tauri-driver answers (Zoom)', !!driver)) return;
  sid = await newSession();
  const ready = await waitFor(() => exec(
    'return document.body.dataset.ready === "true" && document.querySelectorAll("article[data-service]").length',
  ), 15000, 20);
  check('the window shows the same 8 cards again', ready === 8, `cards: ${ready}`);

  let zoomCard = await card('zoom');
  check('the built-in Zoom card, configured by ZOOM_CLIENT_ID/ZOOM_CLIENT_SECRET, starts not connected with Connect',
    zoomCard?.state === 'not_connected' && zoomCard.actions.includes('connect') && !zoomCard.signingIn, JSON.stringify(zoomCard));

  // acme connected first (by the CLI), so that the tray lists two services.
  browserDoes('normal');
  const cli = spawnSync(CLI, ['auth', 'acme'], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
  const acmeOn = await waitFor(async () => (await card('acme'))?.state === 'connected', 5000);
  check('acme is connected too (by the CLI)', cli.status === 0 && !!acmeOn, `${cli.status} ${cli.stderr}`);

  const codesBefore = (await stats()).token.authorization_code ?? 0;
  await click(`${CARD('zoom')} button[data-action="connect"]`);
  zoomCard = await waitFor(async () => { const c = await card('zoom'); return c?.state === 'connected' && !c.signingIn && c; }, 30000);
  check('Connect on the Zoom card: the browser comes back and the card turns connected', !!zoomCard, JSON.stringify(await card('zoom')));
  check('with the method oauth_pkce (not server-to-server)', zoomCard?.method === 'oauth_pkce', zoomCard?.method);
  check('and the account that signed in', /alice@example\.test/.test(zoomCard?.account ?? ''), zoomCard?.account);
  check('Zoom\'s token file exists with mode 0600', fileMode(ZOOM_TOKEN) === '600', `mode ${fileMode(ZOOM_TOKEN)}`);
  const browsed = fs.existsSync(env.E2E_BROWSER_LOG) ? fs.readFileSync(env.E2E_BROWSER_LOG, 'utf8').trim() : '';
  let opened = null;
  try {
    opened = new URL(browsed.split('\n').pop());
  } catch {}
  check('the browser was sent to the test server with ZOOM_CLIENT_ID and Zoom\'s loopback redirect',
    opened?.origin === env.E2E_ISSUER && opened.pathname === '/auth'
      && opened.searchParams.get('client_id') === 'confidential-native'
      && /^http:\/\/127\.0\.0\.1:\d+\/callback$/.test(opened.searchParams.get('redirect_uri') ?? ''), browsed);
  // The confidential client authenticates at the token endpoint with its
  // secret (client_secret_basic): without ZOOM_CLIENT_SECRET no token.
  check('the code was exchanged at the test server\'s token endpoint',
    ((await stats()).token.authorization_code ?? 0) === codesBefore + 1, JSON.stringify((await stats()).token));
  await sleep(200);
  await screenshot('zoom-connected', 'zoom');

  // The tray: "Log out of Acme", "Log out of Zoom" (sorted by name); Zoom's is picked.
  await trayLogOut('Zoom', 'tray-menu-acme-and-zoom');
  zoomCard = await waitFor(async () => { const c = await card('zoom'); return c?.state === 'not_connected' && c; }, 5000);
  check('the tray menu\'s "Log out of Zoom" returns the Zoom card to not connected, with Connect',
    !!zoomCard && zoomCard.actions.includes('connect'), JSON.stringify(await card('zoom')));
  check('and Zoom\'s token file is gone', !fs.existsSync(ZOOM_TOKEN));
  // Zoom's revocation URL is a closed port: the library deletes the local
  // copy whatever the provider answers, and the card says it was not told.
  const notice = await waitFor(() => exec(
    'const n = document.querySelector(arguments[0] + \' [data-role="notice"]\'); return n && { kind: n.className, text: n.textContent.trim() };',
    CARD('zoom')), 3000);
  check('though the provider could not be reached to revoke it (an information on the card, not an error)',
    !!notice && /\binfo\b/.test(notice.kind), JSON.stringify(notice));
  const acme = await card('acme');
  check('and acme stays connected (only Zoom logged out)', acme?.state === 'connected' && fs.existsSync(TOKEN), JSON.stringify(acme));
  await screenshot('zoom-logged-out', 'zoom');

  await click(`${CARD('zoom')} button[data-action="dismiss"]`).catch(() => {});
  spawnSync(CLI, ['auth', 'acme', '--logout'], { encoding: 'utf8', timeout: 30000, stdio: 'ignore' });
  await wd('DELETE', `/session/${sid}`).catch(() => {});
  sid = '';
  await stop(driver);
}

/** Waits for the app of the previous launch to end (WebKitWebDriver closes
 *  it when its session is deleted); one still running after 10 s would make
 *  the next launch its second instance, so it is stopped (and said). */
async function previousAppGone() {
  if (await waitFor(() => appProcesses().app.length === 0, 10000, 100)) return;
  const left = appProcesses().app;
  info(`the previous app is still running 10 s after its session ended; stopping it: ${JSON.stringify(left.map((p) => p.pid))}`);
  for (const p of left) {
    try { process.kill(p.pid, 'SIGTERM'); } catch {}
  }
  await waitFor(() => appProcesses().app.length === 0, 5000, 100);
}

/** Invokes an app command from the page (the app's own commands are allowed). */
async function invoke(command, args = {}) {
  const r = await wd('POST', `/session/${sid}/execute/async`, {
    script: `const done = arguments[arguments.length - 1];
      window.__TAURI__.core.invoke(arguments[0], arguments[1]).then((v) => done({ v }), (e) => done({ e: String(e) }));`,
    args: [command, args],
  });
  if (r && 'e' in r) throw new Error(`${command}: ${r.e}`);
  return r?.v;
}

/** The Notify calls that reached the notification server, as dbus-monitor
 *  recorded them: each one's string arguments (app name, icon, summary, body,
 *  then the actions). */
function notifyCalls() {
  const text = fs.existsSync(env.E2E_NOTIFY_LOG) ? fs.readFileSync(env.E2E_NOTIFY_LOG, 'utf8') : '';
  return text.split(/^method call /m).slice(1)
    .filter((b) => /member=Notify\b/.test(b.split('\n')[0]))
    .map((b) => [...b.matchAll(/^\s+string "(.*)"$/gm)].map((m) => m[1]));
}

// ---- the keeper in the real window: short-lived tokens, a revoked grant ----

/** A token file as it is now (null: none, or being replaced). */
function tokenFile(file = TOKEN) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** How long the test server's access tokens for `client` live from now on,
 *  also those its refreshes get (null: the server's default again). */
async function accessTokenTtl(client, seconds) {
  const r = await fetch(`${env.E2E_ISSUER}/_test/ttl`, {
    method: 'POST',
    body: JSON.stringify({ client_id: client, access_token_ttl: seconds }),
  }).catch(() => null);
  return !!r?.ok;
}

/** Revokes acme's grant at the provider, as its owner would on the
 *  provider's side: RFC 7009 with the refresh token the app holds now
 *  (oidc-provider then ends the whole grant: that refresh token, any it was
 *  rotated into meanwhile, and their access tokens). The HTTP status. */
async function revokeAcmeAtProvider() {
  const rt = tokenFile()?.refresh_token;
  if (!rt) return `no refresh token in ${TOKEN}`;
  const r = await fetch(`${env.E2E_ISSUER}/token/revocation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: rt, token_type_hint: 'refresh_token', client_id: 'public-native' }),
  });
  return r.status;
}

/** The expiry `service`'s card shows: its state, the time it holds, its words. */
function expiryShown(service) {
  return exec(`
    const el = document.querySelector(arguments[0]);
    const x = el?.querySelector('[data-role="expiry"]');
    return el && { state: el.dataset.state, at: x ? Number(x.dataset.expiresAt) : null,
      text: x?.textContent.trim() ?? null, title: x?.title ?? null };`, CARD(service));
}

/** Watches `service`'s card, touching nothing, until it has shown `count`
 *  expiries later than the first one seen (or `ms` passed); returns each
 *  change it saw (state or expiry), with the time. */
async function watchExpiry(service, count, ms) {
  const seen = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const x = await expiryShown(service).catch(() => null);
    const last = seen[seen.length - 1];
    if (x && (!last || last.at !== x.at || last.state !== x.state)) seen.push({ ...x, ms: Date.now() });
    if (new Set(seen.filter((s) => s.at > seen[0].at).map((s) => s.at)).size >= count) break;
    await sleep(100);
  }
  return seen;
}

/** Whether the card kept `service` connected, its expiry only moving later. */
function keptConnected(seen) {
  return seen.length > 0 && seen.every((s, i) => s.state === 'connected' && (i === 0 || s.at > seen[i - 1].at));
}

/** Runs `fn` with the screenshots numbered from 30 on (the numbers below
 *  are the other checks'; those after it keep theirs). */
let keeperShotNo = 29;
async function keeperShots(fn) {
  const saved = shotNo;
  shotNo = keeperShotNo;
  try {
    return await fn();
  } finally {
    keeperShotNo = shotNo;
    shotNo = saved;
  }
}

const ACME_SUMMARY = 'Acme needs reconnecting';
const acmeNotifications = () => notifyCalls().filter((c) => c.includes(ACME_SUMMARY));

/** The keeper and the attention path for real, in their own launch of the
 *  app with its own keeper running (the default); nothing here writes a
 *  token file.
 *  1. The test server's access tokens for acme and Zoom live 5 s. After
 *     Connect, acme's card shows a later expiry again and again without a
 *     click and never shows it expired: the keeper refreshes ahead of
 *     expiry, the token file's expires_at advances, its refresh token
 *     rotates, and the provider accepts the access token it holds.
 *  2. The grant is revoked at the provider (RFC 7009). The keeper's next
 *     refresh is answered invalid_grant: the card says "Needs reconnecting",
 *     one notification reaches the notification server and stays one over
 *     more keeper cycles (it keeps Zoom alive meanwhile, and asks nothing
 *     more of acme's dead grant); the tray asks for attention; its
 *     "Reconnect Acme" signs in again, the card is connected and kept alive
 *     again, and the tray returns to normal.
 *  3. A second revocation is a new incident, notified again; activating
 *     that notification (dunstctl action) signs in again. */
async function attention() {
  const began = Date.now();
  try {
    return await keeperAndAttention();
  } finally {
    info(`the keeper and attention checks took ${((Date.now() - began) / 1000).toFixed(1)} s`);
    // Their screenshots are 30 on; 18-20 were those of the faked attention
    // checks this replaced: the screenshots after keep their numbers (21 on).
    shotNo += 3;
  }
}

async function keeperAndAttention() {
  await previousAppGone();
  const driver = await startDriver();
  if (!check('tauri-driver answers (keeper and attention)', !!driver)) return;
  sid = await newSession();
  await waitFor(() => exec('return document.body.dataset.ready === "true"'), 15000, 20);
  const short = (await accessTokenTtl('public-native', 5)) && (await accessTokenTtl('confidential-native', 5));
  check('the test server now gives acme\'s and Zoom\'s clients access tokens that live 5 s', short);

  // --- 1. Connect, then the keeper alone keeps the connection alive ---
  browserDoes('normal');
  await click(`${CARD('acme')} button[data-action="connect"]`);
  let acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'connected' && !c.signingIn && c; }, 30000);
  const first = tokenFile();
  // Saved as 4 s of it: the library keeps a second's margin from `exp`.
  const life = first ? first.expires_at - first.obtained_at : NaN;
  check(`Connect: acme is connected with a token that lives 5 s (saved as ${life.toFixed(1)} s), and a refresh token`,
    !!acme && !!first?.refresh_token && life > 3 && life <= 5,
    JSON.stringify({ card: acme, expires_at: first?.expires_at, obtained_at: first?.obtained_at }));
  let tray = await invoke('tray_view');
  check('the tray is normal while all is fine', tray && !tray.attention && tray.tooltip === 'PlanOpticon Auth',
    JSON.stringify(tray));
  const refreshesBefore = (await stats()).token.refresh_token ?? 0;
  const refusedBefore = (await stats()).invalid_grant;
  const watched = Date.now();
  const seen = await watchExpiry('acme', 2, 12000);
  const later = seen.filter((s) => s.at > seen[0].at);
  check(`without a click the card shows a later expiry, twice, within ${((Date.now() - watched) / 1000).toFixed(1)} s`,
    later.length >= 2, JSON.stringify(seen));
  check('and its words change with it', later.length >= 1 && later[later.length - 1].title !== seen[0].title
    && seen.every((s) => /^expires in \d+ s$/.test(s.text)), JSON.stringify(seen.map((s) => [s.text, s.title])));
  check('never showing it expired or needing anything (connected throughout)', keptConnected(seen),
    JSON.stringify(seen.map((s) => s.state)));
  const now = tokenFile();
  check('the token file\'s expires_at advanced and its refresh token rotated',
    !!now && now.expires_at > first.expires_at && now.refresh_token !== first.refresh_token
      && now.access_token !== first.access_token,
    JSON.stringify({ from: first.expires_at, to: now?.expires_at, rotated: now?.refresh_token !== first.refresh_token }));
  const s1 = await stats();
  check(`refreshed at the provider (${(s1.token.refresh_token ?? 0) - refreshesBefore} refresh grants), none refused`,
    (s1.token.refresh_token ?? 0) - refreshesBefore >= 2 && s1.invalid_grant === refusedBefore, JSON.stringify(s1.token));
  const me = await fetch(`${env.E2E_ISSUER}/me`, { headers: { authorization: `Bearer ${tokenFile()?.access_token}` } });
  check('the provider accepts the access token the keeper saved (GET /me)', me.status === 200, `HTTP ${me.status}`);
  await keeperShots(() => screenshot('kept-alive'));

  // Zoom connected too (by the CLI), also with 5 s tokens: the keeper has
  // work every few seconds while acme waits for a person.
  const zoomIn = spawnSync(CLI, ['auth', 'zoom'], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
  const zoomOn = await waitFor(async () => (await card('zoom'))?.state === 'connected', 5000);
  check('Zoom is connected too (by the CLI)', zoomIn.status === 0 && !!zoomOn, `${zoomIn.status} ${zoomIn.stderr}`);

  // --- 2. The grant revoked at the provider ---
  const before = notifyCalls().length;
  const revoked = await revokeAcmeAtProvider();
  const revokedAt = Date.now();
  check('the grant is revoked at the provider (RFC 7009)', revoked === 200, String(revoked));
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'needs_reconnect' && c; }, 10000, 25);
  check(`the keeper's next refresh is refused and the card shows "Needs reconnecting" (${Date.now() - revokedAt} ms after)`,
    !!acme && acme.label === 'Needs reconnecting' && acme.actions.includes('connect'), JSON.stringify(await card('acme')));
  check('the token file records why (invalid_grant), written by the app\'s keeper',
    /invalid_grant/.test(tokenFile()?.needs_reconnect?.reason ?? ''), JSON.stringify(tokenFile()?.needs_reconnect));
  const told = await waitFor(() => acmeNotifications().length >= 1 && acmeNotifications(), 5000, 50);
  check('a notification "Acme needs reconnecting" reaches the notification server',
    !!told && told[0][0] === 'PlanOpticon Auth', JSON.stringify(notifyCalls().slice(before)));
  check('its body gives the reason in plain words',
    !!told && /^The provider no longer accepts the saved connection \(invalid_grant\b.*\)\. Click to sign in to Acme again\.$/
      .test(told[0][3] ?? ''), JSON.stringify(told?.[0]));
  check('and it can be activated (a default action)', !!told && told[0].includes('default'), JSON.stringify(told?.[0]));
  tray = await waitFor(async () => { const t = await invoke('tray_view'); return t?.attention && t; }, 3000);
  check('the tray icon asks for attention', !!tray, JSON.stringify(await invoke('tray_view')));
  check('its tooltip says how many connections and which',
    tray?.tooltip === 'PlanOpticon Auth: 1 connection needs reconnecting (Acme)', tray?.tooltip);
  check('the tray menu starts with "Reconnect Acme"', tray?.items?.[0] === 'Reconnect Acme', JSON.stringify(tray?.items));
  await keeperShots(() => screenshot('attention'));

  // More keeper cycles (Zoom refreshed every 2.5 s, each a file change the
  // app publishes and wakes the keeper with): still one notification, and
  // acme's dead grant is not tried again.
  const zoomBefore = (await stats()).token.refresh_token ?? 0;
  const refused = (await stats()).invalid_grant;
  await sleep(6000);
  const s2 = await stats();
  check(`one notification per incident: still one after ${(s2.token.refresh_token ?? 0) - zoomBefore} more keeper refreshes (Zoom's)`,
    acmeNotifications().length === 1 && (s2.token.refresh_token ?? 0) - zoomBefore >= 2, JSON.stringify(acmeNotifications()));
  check('and the revoked grant was refused once, never asked again', refused === refusedBefore + 1 && s2.invalid_grant === refused,
    JSON.stringify({ refusedBefore, refused, now: s2.invalid_grant }));
  check('the card still says "Needs reconnecting", Zoom\'s still connected',
    (await card('acme'))?.state === 'needs_reconnect' && (await card('zoom'))?.state === 'connected');
  // No snapshot changes acme's card meanwhile; its words follow the clock.
  const dead = await expiryShown('acme');
  check('and the card\'s expiry words moved on with the clock ("expired … ago")',
    !!dead && dead.at * 1000 < Date.now() && /^expired \d+ s ago$/.test(dead.text), JSON.stringify(dead));

  // "Reconnect Acme" from the tray: the window's Connect runs, the fake browser signs in.
  browserDoes('delay 1');
  await keeperShots(() => trayPick('Down', 'tray-menu-attention'));
  const started = await waitFor(async () => (await card('acme'))?.signingIn, 5000, 25);
  check('the tray\'s "Reconnect Acme" starts the sign-in on the card', !!started, JSON.stringify(await card('acme')));
  check('and shows the window', windowShown());
  acme = await waitFor(async () => { const c = await card('acme'); return c?.state === 'connected' && !c.signingIn && c; }, 30000);
  check('the card is connected again', !!acme && acme.method === 'oauth_pkce', JSON.stringify(await card('acme')));
  tray = await waitFor(async () => { const t = await invoke('tray_view'); return t && !t.attention && t; }, 3000);
  check('the tray returns to normal', tray?.tooltip === 'PlanOpticon Auth' && tray.items[0] === 'Log out of Acme',
    JSON.stringify(tray));
  const again = await watchExpiry('acme', 1, 8000);
  check('and the keeper keeps acme alive again (a later expiry without a click)',
    keptConnected(again) && again.length >= 2, JSON.stringify(again));
  await keeperShots(() => screenshot('attention-resolved'));

  // --- 3. A new incident is told again; activating its notification reconnects ---
  browserDoes('normal');
  const second = await revokeAcmeAtProvider();
  const twice = await waitFor(() => acmeNotifications().length === 2, 10000, 50);
  check('a second revocation (after the fix) is a new incident, notified again', second === 200 && !!twice,
    JSON.stringify(acmeNotifications()));
  await sleep(300);
  const act = spawnSync('dunstctl', ['action', '0'], { encoding: 'utf8', timeout: 5000 });
  const viaNotification = await waitFor(async () => {
    const c = await card('acme');
    return c?.state === 'connected' && !c.signingIn && c;
  }, 30000);
  check('activating the notification (dunstctl action) signs in again and the card is connected',
    act.status === 0 && !!viaNotification, `${act.status} ${act.stderr} ${JSON.stringify(await card('acme'))}`);
  tray = await waitFor(async () => { const t = await invoke('tray_view'); return t && !t.attention && t; }, 3000);
  check('the tray is normal again', !!tray, JSON.stringify(await invoke('tray_view')));

  await accessTokenTtl('public-native', null);
  await accessTokenTtl('confidential-native', null);
  for (const s of ['acme', 'zoom']) {
    spawnSync(CLI, ['auth', s, '--logout'], { encoding: 'utf8', timeout: 30000, stdio: 'ignore' });
  }
  await waitFor(async () => (await card('acme'))?.state === 'not_connected' && (await card('zoom'))?.state === 'not_connected', 5000);
  // Kept for the next checks.
  return driver;
}

/** Settings: the keeper, notification and interval settings go to
 *  settings.toml; "Start at login" creates and removes the autostart entry
 *  (~/.config/autostart, in the test's HOME) that starts the app --hidden. */
async function settingsAndAutostart() {
  if (!sid) return;
  const entry = path.join(HOME, '.config', 'autostart', 'PlanOpticon Auth.desktop');
  const settingsFile = path.join(HOME, '.planopticon', 'settings.toml');
  await click('#tab-settings');
  const ready = await waitFor(() => exec('return !document.querySelector("#notifications-switch").disabled'), 8000);
  const sw = await exec(`return ['keeper', 'notifications', 'autostart'].map((n) => document.querySelector('#' + n + '-switch').checked)
    .concat([document.querySelector('#identity-hours').value])`);
  check('Settings shows the keeper and notification switches on, 6 h, start at login off',
    !!ready && JSON.stringify(sw) === JSON.stringify([true, true, false, '6']), JSON.stringify(sw));

  await click('label:has(#notifications-switch)');
  const off = await waitFor(() => fs.existsSync(settingsFile) && /notifications = false/.test(fs.readFileSync(settingsFile, 'utf8')), 5000);
  check('the notifications switch is saved in settings.toml', !!off, fs.existsSync(settingsFile) ? fs.readFileSync(settingsFile, 'utf8') : 'no file');
  await exec('const i = document.querySelector("#identity-hours"); i.value = "12"; i.dispatchEvent(new Event("change")); return 1;');
  const hours = await waitFor(() => /identity_check_hours = 12/.test(fs.readFileSync(settingsFile, 'utf8')), 5000);
  check('the identity-check interval is saved', !!hours, fs.readFileSync(settingsFile, 'utf8'));
  await click('label:has(#notifications-switch)');
  await waitFor(() => /notifications = true/.test(fs.readFileSync(settingsFile, 'utf8')), 5000);

  await click('label:has(#autostart-switch)');
  const made = await waitFor(() => fs.existsSync(entry), 5000);
  const text = made ? fs.readFileSync(entry, 'utf8') : '';
  check('"Start at login" writes the autostart entry, starting the app --hidden',
    !!made && /^Exec=.*planopticon-app.*--hidden/m.test(text), text || fs.readdirSync(path.dirname(entry), { withFileTypes: false }).join(','));
  await screenshot('settings-start-at-login', 'google');
  await click('label:has(#autostart-switch)');
  const gone = await waitFor(() => !fs.existsSync(entry), 5000);
  check('turning it off removes the entry', !!gone);
  await click('#tab-services');
  await wd('DELETE', `/session/${sid}`).catch(() => {});
  sid = '';
  for (const c of children) if (/tauri-driver/.test(c.spawnfile)) await stop(c);
}

/** `planopticon-app --hidden` (as at login) starts in the tray without
 *  showing its window; a second launch shows it. */
async function startedHidden() {
  await previousAppGone();
  const log = fs.openSync(path.join(TMP, 'hidden-app.log'), 'a');
  const app = spawn(APP, ['--hidden'], { stdio: ['ignore', log, log] });
  children.push(app);
  const running = await waitFor(() => appProcesses().app.length >= 1, 10000, 100);
  await sleep(2500);
  check('started with --hidden, the app runs without showing its window', !!running && !windowShown(),
    JSON.stringify(appProcesses().app.map((p) => p.args)));
  spawnSync(APP, [], { timeout: 15000, stdio: 'ignore' });
  check('and a second launch shows it', !!(await waitFor(windowShown, 5000)));
  await stop(app);
}

// ---- the Set up forms (issue #10), in a HOME with nothing configured ------

/** Replaces the value of the input `css` (WebDriver clear, then typing). */
async function fill(css, text) {
  const id = await find(css);
  await wd('POST', `/session/${sid}/element/${id}/clear`, {});
  if (text) await wd('POST', `/session/${sid}/element/${id}/value`, { text });
}

/** A fake identity endpoint on 127.0.0.1 for Notion's API-key check: the
 *  key `good-notion-key` is accepted (Notion's /v1/users/me shape for an
 *  integration), anything else gets Notion's 401. */
async function fakeNotionIdentity() {
  const { default: http } = await import('node:http');
  const server = http.createServer((req, res) => {
    const ok = req.headers.authorization === 'Bearer good-notion-key' && req.headers['notion-version'];
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok
      ? { object: 'user', id: 'bot-1', type: 'bot', name: 'Forms test', bot: { owner: { type: 'user', user: { name: 'Alice', person: { email: 'alice@example.test' } } }, workspace_name: 'Test Workspace' } }
      : { object: 'error', status: 401, code: 'unauthorized', message: 'API token is invalid.' }));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}/v1/users/me` };
}

/** What an open Set up panel shows. */
function panel(service) {
  return exec(`
    const p = document.querySelector(arguments[0] + ' [data-role="setup-panel"]');
    if (!p) return null;
    const val = (n) => p.querySelector('input[data-field="' + n + '"]');
    return {
      title: p.querySelector('h3')?.textContent,
      redirect: p.querySelector('[data-role="redirect-uri"]')?.value ?? null,
      guide: p.querySelector('[data-role="guide"]')?.textContent.replace(/\\s+/g, ' ').trim(),
      console: !!p.querySelector('button[data-form="console"]'),
      secretType: val('client_secret')?.type ?? null,
      fields: [...p.querySelectorAll('input[data-field]')].map((i) => i.dataset.field),
      errors: Object.fromEntries([...p.querySelectorAll('.field-error:not([hidden])')].map((e) => [e.dataset.errorFor, e.textContent])),
      status: p.querySelector('[data-role="form-status"]')?.textContent ?? '',
      keyStatus: p.querySelector('[data-role="key-status"]')?.textContent ?? '',
      keyForm: !!p.querySelector('[data-role="key-form"]'),
      formError: p.querySelector('[data-role="form-error"]:not([hidden])')?.textContent ?? null,
    };`, CARD(service));
}

/** Scrolls `css` to the top of the window, for a screenshot of a form
 *  (screenshot() centres a card, and a card with its form is taller than
 *  the window). */
async function shotOf(name, css) {
  // Below the sticky top bar.
  await exec(`const el = document.querySelector(arguments[0]); if (el) { el.scrollIntoView({block: "start"});
    window.scrollBy(0, -document.querySelector('.topbar').offsetHeight - 8); } return 1;`, css);
  return screenshot(name, 'no-card-to-centre');
}

/** A fresh HOME with nothing configured (no services.toml, no client in the
 *  environment: ZOOM_CLIENT_ID/SECRET cleared, as the Python tool and the
 *  library count an empty variable as unset). Every built-in offers Set up.
 *  GitHub is set up in the form, pointed at the test's authorization
 *  server (its endpoints under "Advanced: endpoints"), saved (an invalid
 *  value refused first, nothing written), and connected. Notion gets an API
 *  key checked at a fake identity endpoint (a bad key refused on the card, a
 *  good one saved and shown connected). A service is added by the test
 *  server's issuer (discovery shown) and removed. PLANE_BASE_URL in the
 *  environment shows read-only. */
async function setUpForms() {
  await previousAppGone();
  const home = path.join(TMP, 'fresh-home');
  fs.mkdirSync(home, { recursive: true });
  const services = path.join(home, '.planopticon', 'services.toml');
  const ISSUER = env.E2E_ISSUER;
  const identity = await fakeNotionIdentity();
  const driver = await startDriver({
    HOME: home, ZOOM_CLIENT_ID: '', ZOOM_CLIENT_SECRET: '', PLANE_BASE_URL: 'https://plane.example.test',
  });
  if (!check('tauri-driver answers (Set up forms, fresh HOME)', !!driver)) return;
  try {
    sid = await newSession();
    const ready = await waitFor(() => exec(
      'return document.body.dataset.ready === "true" && document.querySelectorAll("article[data-service]").length',
    ), 15000, 20);
    const all = await Promise.all(['google', 'dropbox', 'zoom', 'notion', 'github', 'microsoft', 'plane'].map(card));
    check('with nothing configured, all 7 built-in cards offer Set up instead of Connect',
      ready === 7 && all.every((c) => c?.actions.includes('setup') && !c.actions.includes('connect')),
      JSON.stringify(all.map((c) => c?.actions)));
    const addCard = await exec('const a = document.querySelector("#add-card"); return !!a && !a.hidden && a === a.parentElement.lastElementChild;');
    check('an "Add a service" card is the last card', addCard === true);

    // --- Set up GitHub ---
    await click(`${CARD('github')} button[data-action="setup"]`);
    let form = await waitFor(() => panel('github'), 5000);
    check('Set up opens the form: client id, client secret (a password field), endpoints under Advanced',
      form && form.secretType === 'password' && ['client_id', 'client_secret', 'oauth_authorize_url', 'oauth_token_url'].every((f) => form.fields.includes(f)),
      JSON.stringify(form));
    check('it shows the redirect URI to register and the kind of app to create (from the library\'s guide)',
      form?.redirect === 'http://127.0.0.1/callback' && /OAuth Apps > New OAuth App/.test(form.guide) && form.console, JSON.stringify(form));
    await click(`${CARD('github')} input[data-field="client_secret"] + button[data-form="reveal"]`);
    const shown = await exec(`return document.querySelector(arguments[0] + ' input[data-field="client_secret"]').type`, CARD('github'));
    await click(`${CARD('github')} input[data-field="client_secret"] + button[data-form="reveal"]`);
    check('the secret can be shown and hidden', shown === 'text'
      && (await exec(`return document.querySelector(arguments[0] + ' input[data-field="client_secret"]').type`, CARD('github'))) === 'password');
    browserDoes('hang'); // the fake browser only records the address: no test reaches the internet
    const logBefore = fs.existsSync(env.E2E_BROWSER_LOG) ? fs.readFileSync(env.E2E_BROWSER_LOG, 'utf8') : '';
    await click(`${CARD('github')} button[data-form="console"]`);
    const opened = await waitFor(() => {
      const now = fs.existsSync(env.E2E_BROWSER_LOG) ? fs.readFileSync(env.E2E_BROWSER_LOG, 'utf8') : '';
      return now.length > logBefore.length && now.slice(logBefore.length).trim();
    }, 5000);
    check('"Open developer console" opens GitHub\'s developer settings in the browser (BROWSER)',
      opened === 'https://github.com/settings/developers', String(opened));
    browserDoes('normal');

    // Invalid values: refused per field, nothing written.
    await fill(`${CARD('github')} input[data-field="client_id"]`, 'has spaces in it');
    await click(`${CARD('github')} details[data-role="advanced"] summary`);
    await fill(`${CARD('github')} input[data-field="oauth_authorize_url"]`, `${ISSUER}/auth`);
    await fill(`${CARD('github')} input[data-field="oauth_token_url"]`, 'http://auth.example.test/token');
    await click(`${CARD('github')} button[data-form="save"]`);
    form = await waitFor(async () => { const f = await panel('github'); return Object.keys(f?.errors ?? {}).length && f; }, 5000);
    check('Save refuses a client id with spaces and a token URL without https, each with its reason',
      !!form && /spaces/.test(form.errors.client_id ?? '') && /https/.test(form.errors.oauth_token_url ?? ''), JSON.stringify(form));
    check('and writes nothing', !fs.existsSync(services), fs.existsSync(services) ? fs.readFileSync(services, 'utf8') : '');
    await shotOf('set-up-form-refused', `${CARD('github')} [data-field-row="client_id"]`);

    await fill(`${CARD('github')} input[data-field="client_id"]`, 'public-native');
    await fill(`${CARD('github')} input[data-field="oauth_token_url"]`, `${ISSUER}/token`);
    await fill(`${CARD('github')} input[data-field="userinfo_url"]`, `${ISSUER}/me`);
    await fill(`${CARD('github')} input[data-field="revocation_url"]`, `${ISSUER}/token/revocation`);
    await fill(`${CARD('github')} input[data-field="scopes"]`, 'openid email');
    form = await panel('github');
    check('correcting a refused field clears its message', Object.keys(form?.errors ?? {}).length === 0, JSON.stringify(form?.errors));
    await shotOf('set-up-form', `${CARD('github')} [data-role="setup-panel"]`);
    await click(`${CARD('github')} button[data-form="save"]`);
    const savedAt = Date.now();
    let gh = await waitFor(async () => { const c = await card('github'); return c?.actions.includes('connect') && !(await panel('github')) && c; }, 5000, 25);
    check(`after Save the card offers Connect at once (${Date.now() - savedAt} ms)`, !!gh, JSON.stringify(await card('github')));
    const text = fs.existsSync(services) ? fs.readFileSync(services, 'utf8') : '';
    check('services.toml holds [github] with the client id and endpoints, mode 0600',
      /\[github\]/.test(text) && /client_id = "public-native"/.test(text) && text.includes(`oauth_token_url = "${ISSUER}/token"`)
        && fileMode(services) === '600', `${fileMode(services)} ${text}`);
    await click(`${CARD('github')} button[data-action="connect"]`);
    gh = await waitFor(async () => { const c = await card('github'); return c?.state === 'connected' && !c.signingIn && c; }, 30000);
    check('Connect: the browser signs in at the test server and the GitHub card turns connected',
      gh?.method === 'oauth_pkce' && /alice@example\.test/.test(gh.account ?? ''), JSON.stringify(await card('github')));

    // --- an API key for Notion, checked at its identity endpoint ---
    await click(`${CARD('notion')} button[data-action="setup"]`);
    await waitFor(() => panel('notion'), 5000);
    await click(`${CARD('notion')} details[data-role="advanced"] summary`);
    await fill(`${CARD('notion')} input[data-field="userinfo_url"]`, identity.url);
    await click(`${CARD('notion')} button[data-form="save"]`);
    await waitFor(async () => !(await panel('notion')), 5000);
    await click(`${CARD('notion')} button[data-action="setup"]`);
    form = await waitFor(() => panel('notion'), 5000);
    check('Notion\'s form offers "Use an API key / personal access token"', form?.keyForm === true, JSON.stringify(form));
    await click(`${CARD('notion')} details[data-role="key-section"] summary`);
    await typeInto(`${CARD('notion')} input[data-role="api-key"]`, 'bad-notion-key');
    await shotOf('api-key-form', `${CARD('notion')} details[data-role="key-section"]`);
    await click(`${CARD('notion')} button[data-form="save-key"]`);
    form = await waitFor(async () => { const f = await panel('notion'); return /^Not saved/.test(f?.keyStatus ?? '') && f; }, 10000);
    const notionToken = path.join(home, '.planopticon', 'notion_token.json');
    check('a bad key is refused on the card with the provider\'s answer (401), nothing saved',
      !!form && /401/.test(form.keyStatus) && !fs.existsSync(notionToken), JSON.stringify(form?.keyStatus));
    await fill(`${CARD('notion')} input[data-role="api-key"]`, 'good-notion-key');
    await click(`${CARD('notion')} button[data-form="save-key"]`);
    const notion = await waitFor(async () => { const c = await card('notion'); return c?.state === 'connected' && c; }, 10000);
    check('a good key is saved and the Notion card shows connected, with the account the provider named',
      !!notion && notion.method === 'api_key' && /Alice/.test(notion.account ?? ''), JSON.stringify(await card('notion')));
    const meta = await exec('return document.querySelector(arguments[0] + \' [data-role="meta"]\')?.textContent', CARD('notion'));
    check('with no expiry and no "cannot renew by itself" (a key does not expire)',
      /^API key/.test(meta ?? '') && !/expire|renew/.test(meta), String(meta));
    let saved = null;
    try { saved = JSON.parse(fs.readFileSync(notionToken, 'utf8')); } catch {}
    check('saved as Notion\'s token file (obtained_by api_key, no expiry: usable by the Python tool), mode 0600',
      saved?.obtained_by === 'api_key' && saved.access_token === 'good-notion-key' && saved.expires_at === 253402300799
        && fileMode(notionToken) === '600', JSON.stringify(saved && { ...saved, access_token: '…' }));

    // --- a value the environment sets is read-only ---
    await click(`${CARD('plane')} button[data-action="setup"]`);
    await waitFor(() => panel('plane'), 5000);
    const base = await exec(`
      const row = document.querySelector(arguments[0] + ' [data-field-row="base_url"]');
      return row && { readOnly: row.querySelector('input').readOnly, value: row.querySelector('input').value,
        note: row.querySelector('[data-role="note"]')?.textContent };`, CARD('plane'));
    check('PLANE_BASE_URL from the environment shows read-only, with a note',
      base?.readOnly === true && base.value === 'https://plane.example.test' && /PLANE_BASE_URL/.test(base.note ?? ''), JSON.stringify(base));
    await click(`${CARD('plane')} button[data-form="close"]`);

    // --- a table with a value that cannot be used opens to be repaired ---
    fs.appendFileSync(services, '\n[dropbox]\noauth_token_url = 42\n');
    const broken = await waitFor(async () => { const c = await card('dropbox'); return c?.state === 'error' && c.actions.includes('setup') && c; }, 5000);
    check('a [dropbox] table with a number for a URL: its card says so and offers Set up', !!broken, JSON.stringify(await card('dropbox')));
    // Clear of the sticky top bar (the banner above the cards moved them).
    const centre = (css) => exec('document.querySelector(arguments[0])?.scrollIntoView({block: "center"}); return 1;', css);
    await centre(`${CARD('dropbox')} button[data-action="setup"]`);
    await click(`${CARD('dropbox')} button[data-action="setup"]`);
    form = await waitFor(() => panel('dropbox'), 5000);
    const badRow = await exec(`const row = document.querySelector(arguments[0] + ' [data-field-row="oauth_token_url"]');
      return row && { invalid: row.classList.contains('invalid'), value: row.querySelector('input').value,
        focused: document.activeElement === row.querySelector('input'), shown: !!row.closest('details')?.open };`, CARD('dropbox'));
    check('Set up opens its form anyway, the bad value in its field, marked and focused, with the reason',
      badRow?.invalid && badRow.value === '42' && badRow.focused && badRow.shown && /invalid type/i.test(form?.errors.oauth_token_url ?? ''),
      JSON.stringify({ badRow, errors: form?.errors }));
    check('and the banner says which value and that Save repairs it',
      /cannot be used.*line \d+.*Correct the marked field and Save/.test(form?.formError ?? ''), String(form?.formError));
    await shotOf('set-up-form-broken-table', `${CARD('dropbox')} [data-role="setup-panel"]`);
    await fill(`${CARD('dropbox')} input[data-field="oauth_token_url"]`, `${ISSUER}/token`);
    await centre(`${CARD('dropbox')} button[data-form="save"]`);
    await click(`${CARD('dropbox')} button[data-form="save"]`);
    const mended = await waitFor(async () => { const c = await card('dropbox'); return c && c.state !== 'error' && !(await panel('dropbox')) && c; }, 5000);
    const repaired = fs.readFileSync(services, 'utf8');
    check('Save repairs the table: the card is out of error and the file holds the new URL, the other tables as they were',
      !!mended && repaired.includes(`[dropbox]\noauth_token_url = "${ISSUER}/token"`) && /\[github\]/.test(repaired) && /\[notion\]/.test(repaired),
      `${JSON.stringify(await card('dropbox'))} ${repaired}`);

    // --- Add a service by its issuer, then remove it ---
    await click('#add-open');
    await fill('#add-name', 'corp');
    await fill('#add-issuer', ISSUER);
    await shotOf('add-a-service-form', '#add-card');
    await click('#add-submit');
    const found = await waitFor(() => exec(`
      const r = document.querySelector('#add-result');
      return r && !r.hidden && [...r.querySelectorAll('dt')].map((d) => [d.textContent, d.nextElementSibling.textContent]);`), 10000);
    const tokenEndpoint = found && found.find(([k]) => k === 'Token endpoint');
    check('"Add a service" by issuer shows what discovery found',
      !!tokenEndpoint && tokenEndpoint[1] === `${ISSUER}/token`, JSON.stringify(found));
    const corp = await waitFor(() => card('corp'), 5000);
    check('and a card for it appears, offering Set up and Remove',
      corp?.actions.includes('setup') && corp.actions.includes('remove'), JSON.stringify(corp));
    check('services.toml has [corp] with its issuer',
      fs.readFileSync(services, 'utf8').includes(`[corp]\nissuer = "${ISSUER}"`), fs.readFileSync(services, 'utf8'));
    await shotOf('service-added', '#add-card');

    // Connected (by the CLI), with a revocation URL nothing answers: Remove
    // with Disconnect removes it and says on the page the provider was not told.
    const cliEnv = { ...env, HOME: home };
    const config = (...args) => spawnSync(CLI, ['config', 'corp', ...args], { encoding: 'utf8', timeout: 30000, env: cliEnv });
    config('client_id', 'public-native');
    config('redirect_uri', 'http://127.0.0.1/callback');
    config('scopes', 'openid email');
    config('revocation_url', 'http://127.0.0.1:9/revoke');
    browserDoes('normal');
    const signIn = spawnSync(CLI, ['auth', 'corp'], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'], env: cliEnv });
    const corpOn = await waitFor(async () => (await card('corp'))?.state === 'connected', 5000);
    if (!check('corp is connected by the CLI', signIn.status === 0 && !!corpOn, `${signIn.status} ${signIn.stderr}`)) return;
    await click(`${CARD('corp')} button[data-action="remove"]`);
    const asked = await waitFor(() => exec(`return document.querySelector("#confirm-remove").open
      && [document.querySelector("#remove-title").textContent, document.querySelector("#remove-disconnect").checked]`), 3000);
    check('Remove asks first, offering to disconnect', asked?.[0] === 'Remove Corp?' && asked[1] === true, JSON.stringify(asked));
    await click('#remove-ok');
    const gone = await waitFor(async () => !(await card('corp')), 15000);
    const after = fs.readFileSync(services, 'utf8');
    check('and removes the service: its card and its table go, the others stay',
      !!gone && !/\[corp\]/.test(after) && /\[github\]/.test(after) && /\[notion\]/.test(after), after);
    check('and its token file', !fs.existsSync(path.join(home, '.planopticon', 'corp_token.json')));
    const told = await waitFor(() => exec('const n = document.querySelector("#page-notice"); return !n.hidden && n.textContent'), 3000);
    check('the page says the provider could not be asked to revoke it',
      /^Corp was removed\. Removed from this computer, but the provider could not be asked to revoke the token/.test(told ?? ''), String(told));
    await shotOf('service-removed', '#view-services');
    await click('#page-notice-dismiss');
  } finally {
    await wd('DELETE', `/session/${sid}`).catch(() => {});
    sid = '';
    await stop(driver);
    identity.server.close();
  }
}

main()
  .catch((e) => {
    failed += 1;
    console.log(`FAIL the test stopped: ${e.stack || e}`);
  })
  .finally(async () => {
    if (sid) await wd('DELETE', `/session/${sid}`).catch(() => {});
    stopAll();
    info(`took ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${SHOTS}`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });
