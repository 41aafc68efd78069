// A fake *user in a browser*, used as the BROWSER program by CLI and app
// tests. It speaks plain HTTP to the test authorization server (server.mjs,
// oidc-provider's devInteractions pages): no JavaScript, no real browser.
//
//   browser URL
//       Open an authorization URL: follow redirects by hand with a cookie jar
//       that honours cookie paths, sign in, consent, and when the provider
//       redirects to the app's redirect_uri (http://127.0.0.1:PORT/callback?...)
//       GET that URL (the app's loopback listener) and exit 0.
//
//   browser --device VERIFICATION_URI [USER_CODE]
//       Approve a device authorization (RFC 8628): open the verification page,
//       enter USER_CODE (or use verification_uri_complete, which carries it),
//       confirm, sign in, consent; exit 0 on the success page.
//
// Environment:
//   TEST_LOGIN=alice            the login name (any name is an account)
//   TEST_BROWSER_ACTION=deny    abort the interaction instead of consenting:
//                               the callback carries error=access_denied
//                               (device mode: the user presses "Abort")
//   TEST_BROWSER_LOG=/path      append the URL we were given, one per line
//
// Exit status: 0 when the flow reached its end (callback delivered, device
// approved or denied); 1 with a message on stderr otherwise; 2 on bad usage.

import fs from 'node:fs';

const LOGIN = process.env.TEST_LOGIN || 'alice';
const DENY = (process.env.TEST_BROWSER_ACTION || '').toLowerCase() === 'deny';
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_STEPS = 30;

function fail(message) {
  process.stderr.write(`browser: ${message}\n`);
  process.exit(1);
}

// ---------------------------------------------------------------------------
// Cookie jar (RFC 6265, just enough): every host here is 127.0.0.1, so the
// host part is the URL's origin; paths matter (oidc-provider scopes its
// interaction cookies to /interaction/<uid> and /auth/<uid>).
// ---------------------------------------------------------------------------
const jar = new Map(); // key: origin|path|name -> { origin, path, name, value, expires }

function defaultPath(url) {
  const p = url.pathname;
  if (!p.startsWith('/') || p.lastIndexOf('/') === 0) return '/';
  return p.slice(0, p.lastIndexOf('/'));
}

function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function storeCookies(url, response) {
  for (const header of response.headers.getSetCookie()) {
    const [pair, ...attributes] = header.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const cookie = {
      origin: url.origin,
      name: pair.slice(0, eq).trim(),
      value: pair.slice(eq + 1).trim(),
      path: defaultPath(url),
      expires: Infinity,
    };
    for (const attribute of attributes) {
      const [rawKey, ...rest] = attribute.split('=');
      const key = rawKey.trim().toLowerCase();
      const value = rest.join('=').trim();
      if (key === 'path' && value.startsWith('/')) cookie.path = value;
      if (key === 'max-age') cookie.expires = Date.now() + Number(value) * 1000;
      if (key === 'expires' && cookie.expires === Infinity) cookie.expires = Date.parse(value);
    }
    const key = `${cookie.origin}|${cookie.path}|${cookie.name}`;
    if (cookie.expires <= Date.now()) jar.delete(key);
    else jar.set(key, cookie);
  }
}

function cookieHeader(url) {
  const now = Date.now();
  return [...jar.values()]
    .filter((c) => c.origin === url.origin && c.expires > now && pathMatches(url.pathname, c.path))
    .sort((a, b) => b.path.length - a.path.length) // longer paths first
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

// One HTTP request, cookies in and out, never following redirects.
async function request(method, url, form) {
  const headers = { accept: 'text/html,application/json;q=0.9,*/*;q=0.8' };
  const cookies = cookieHeader(url);
  if (cookies) headers.cookie = cookies;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (err) {
    fail(`${method} ${url.href} failed: ${err.cause?.message ?? err.message}`);
  }
  storeCookies(url, response);
  const text = await response.text();
  return { status: response.status, location: response.headers.get('location'), text };
}

// ---------------------------------------------------------------------------
// HTML forms: the first <form> on a page, its action and its hidden inputs.
// ---------------------------------------------------------------------------
function decodeEntities(s) {
  const named = { quot: '"', apos: "'", lt: '<', gt: '>', amp: '&' };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, entity) => {
    if (entity[0] === '#') {
      const code = entity[1].toLowerCase() === 'x'
        ? Number.parseInt(entity.slice(2), 16)
        : Number.parseInt(entity.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return named[entity.toLowerCase()] ?? whole;
  });
}

function attribute(tag, name) {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*"([^"]*)"`, 'i'));
  return m ? decodeEntities(m[1]) : undefined;
}

function firstForm(html, pageUrl) {
  const start = html.search(/<form\b/i);
  if (start < 0) return undefined;
  const end = html.indexOf('</form>', start);
  const formHtml = html.slice(start, end < 0 ? undefined : end);
  const formTag = formHtml.match(/<form\b[^>]*>/i)[0];
  const fields = {};
  for (const input of formHtml.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attribute(input, 'name');
    if (name && (attribute(input, 'type') || '').toLowerCase() === 'hidden') {
      fields[name] = attribute(input, 'value') ?? '';
    }
  }
  return {
    action: new URL(attribute(formTag, 'action') || pageUrl.href, pageUrl),
    method: (attribute(formTag, 'method') || 'get').toUpperCase(),
    fields,
  };
}

function snippet(text) {
  return text.replace(/\s+/g, ' ').slice(0, 400);
}

// ---------------------------------------------------------------------------
// The walk: follow redirects, fill in the pages the provider shows.
// ---------------------------------------------------------------------------
function isCallback(url, redirectUri) {
  if (redirectUri) {
    const r = new URL(redirectUri);
    return url.origin === r.origin && url.pathname === r.pathname;
  }
  // No redirect_uri in the request: anything that leaves the provider.
  return url.origin !== providerOrigin;
}

let providerOrigin;

async function deliverCallback(url) {
  // The app's loopback listener: a fresh request, no provider cookies.
  let response;
  try {
    response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    await response.arrayBuffer();
  } catch (err) {
    fail(`callback GET ${url.href} failed: ${err.cause?.message ?? err.message}`);
  }
  if (response.status >= 400) {
    process.stderr.write(`browser: the app's listener answered ${response.status} to the callback\n`);
  }
  process.exit(0);
}

async function walk(startUrl, { redirectUri, method = 'GET', form } = {}) {
  let url = startUrl;
  let pending = { method, form };
  let deviceCodeEntered = false;

  for (let step = 0; step < MAX_STEPS; step += 1) {
    if (isCallback(url, redirectUri)) {
      await deliverCallback(url);
    }
    const res = await request(pending.method, url, pending.form);
    pending = { method: 'GET' };

    if (res.status >= 300 && res.status < 400) {
      if (!res.location) fail(`${res.status} without Location from ${url.href}`);
      url = new URL(res.location, url);
      continue;
    }
    if (res.status !== 200) {
      fail(`${url.href} answered ${res.status}: ${snippet(res.text)}`);
    }

    const page = res.text;
    const form = firstForm(page, url);
    const interaction = url.pathname.match(/^\/interaction\/([^/]+)$/);

    if (interaction) {
      if (DENY) {
        url = new URL(`/interaction/${interaction[1]}/abort`, url);
        continue;
      }
      if (!form) fail(`no form on interaction page ${url.href}: ${snippet(page)}`);
      const prompt = form.fields.prompt;
      if (prompt === 'login') {
        pending = { method: 'POST', form: { prompt: 'login', login: LOGIN, password: 'any-password' } };
      } else if (prompt === 'consent') {
        pending = { method: 'POST', form: { ...form.fields } };
      } else {
        fail(`unexpected interaction prompt ${JSON.stringify(prompt)} at ${url.href}`);
      }
      url = form.action;
      continue;
    }

    // Device flow pages (GET/POST /device): a form with an xsrf field.
    if (DENY && deviceCodeEntered && /interrupted/i.test(page)) {
      process.exit(0); // device denied: the input page says so
    }
    if (form && 'xsrf' in form.fields) {
      const fields = { ...form.fields };
      if ('confirm' in fields) {
        // The confirmation page: "Continue" or "[ Abort ]".
        if (DENY) {
          delete fields.confirm;
          fields.abort = 'yes';
        }
      } else {
        if (deviceCodeEntered && !fields.user_code) {
          fail(`the provider did not accept the user code: ${snippet(page)}`);
        }
        if (!fields.user_code) {
          if (!deviceUserCode) fail('the verification page asks for a user code and none was given');
          fields.user_code = deviceUserCode;
        }
        deviceCodeEntered = true;
      }
      pending = { method: form.method, form: fields };
      url = form.action;
      continue;
    }

    if (/Sign-in Success/i.test(page)) {
      process.exit(0); // device approved
    }
    fail(`stuck at ${url.href}: ${snippet(page)}`);
  }
  fail(`more than ${MAX_STEPS} steps without reaching the end`);
}

// ---------------------------------------------------------------------------
// Command line.
// ---------------------------------------------------------------------------
const args = process.argv.slice(2);
let deviceUserCode;

function logUrl(u) {
  if (process.env.TEST_BROWSER_LOG) {
    fs.appendFileSync(process.env.TEST_BROWSER_LOG, `${u}\n`);
  }
}

function parseUrl(text) {
  try {
    return new URL(text);
  } catch {
    process.stderr.write(`browser: not a URL: ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
}

// Whatever happens, never linger.
setTimeout(() => fail('gave up after 60 s'), 60_000).unref();

if (args[0] === '--device') {
  if (args.length < 2 || args.length > 3) {
    process.stderr.write('usage: browser --device VERIFICATION_URI [USER_CODE]\n');
    process.exit(2);
  }
  logUrl(args[1]);
  const start = parseUrl(args[1]);
  providerOrigin = start.origin;
  deviceUserCode = args[2] ?? start.searchParams.get('user_code') ?? undefined;
  // A callback never comes in this mode: use an impossible redirect target.
  await walk(start, { redirectUri: 'http://device-flow.invalid/' });
} else {
  if (args.length !== 1) {
    process.stderr.write('usage: browser URL | browser --device VERIFICATION_URI [USER_CODE]\n');
    process.exit(2);
  }
  logUrl(args[0]);
  const start = parseUrl(args[0]);
  providerOrigin = start.origin;
  await walk(start, { redirectUri: start.searchParams.get('redirect_uri') ?? undefined });
}
