// A real OAuth 2.0 / OpenID Connect authorization server for PlanOpticon's
// tests, built on the certified `oidc-provider` (pinned in package.json).
//
// Contract with the harness (tests/support/mod.rs):
//   * listens on 127.0.0.1 only, on port $PORT or an OS-assigned one (0);
//   * the FIRST line on stdout is exactly {"issuer":"http://127.0.0.1:N","port":N};
//     nothing else is ever written to stdout (the library's NOTICE/WARNING
//     lines go to stderr);
//   * exits on SIGTERM / SIGINT, and when its stdin closes, so a harness that
//     crashed without killing us does not leave a server behind;
//   * GET /_test/stats, POST /_test/reset and POST /_test/ttl are test-only
//     endpoints answered before the provider sees the request.
//
// Environment: PORT (default 0), ACCESS_TOKEN_TTL seconds (default 3600).
// POST /_test/ttl with {"client_id": "...", "access_token_ttl": N} gives one
// client's access tokens (from then on, also those its refreshes get) a
// lifetime of their own; `null` returns it to ACCESS_TOKEN_TTL. So a test
// that runs against one server can have short-lived tokens for one client.
//
// Everything is in memory: one server per test binary, state is lost on exit.

import fs from 'node:fs';
import http from 'node:http';

// oidc-provider prints its "NOTICE"/"WARNING" lines with console.info and
// console.warn. stdout carries only our one JSON line, so route every console
// method that writes to stdout to stderr, BEFORE the library is imported
// (it warns at import time about node 20 being an "unsupported runtime").
console.log = console.error;
console.info = console.error;
console.debug = console.error;
const { default: Provider } = await import('oidc-provider');

const HOST = '127.0.0.1';
const PORT = Number.parseInt(process.env.PORT ?? '0', 10);

function ttlFromEnv(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number.parseInt(raw, 10);
  if (!Number.isInteger(value) || value <= 0) {
    console.error(`server.mjs: ${name} must be a positive integer of seconds, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}
// Short access tokens let expiry tests run in seconds (exp is whole seconds:
// wait TTL + 1 s).
const ACCESS_TOKEN_TTL = ttlFromEnv('ACCESS_TOKEN_TTL', 3600);
// Per-client lifetimes set through POST /_test/ttl (client_id -> seconds).
const clientAccessTtl = new Map();
const accessTokenTtl = (ctx, token, client) =>
  clientAccessTtl.get(client?.clientId ?? token?.clientId) ?? ACCESS_TOKEN_TTL;

// ---------------------------------------------------------------------------
// Test-only counters, read by tests through GET /_test/stats.
// ---------------------------------------------------------------------------
function emptyStats() {
  return {
    // token endpoint requests by grant_type, successful or not
    // (e.g. {"authorization_code":1,"refresh_token":2})
    token: {},
    // token endpoint error responses by error code (e.g. {"invalid_grant":1})
    token_errors: {},
    // shorthand for token_errors.invalid_grant: the answer to refresh-token
    // reuse, code reuse, a wrong PKCE verifier or a revoked grant
    invalid_grant: 0,
    revocation: 0, // POST /token/revocation
    introspection: 0, // POST /token/introspection
    userinfo: 0, // /me
    authorization: 0, // GET/POST /auth (not the /auth/<uid> resumes)
    device_authorization: 0, // POST /device/auth
  };
}
let stats = emptyStats();

function bump(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

// ---------------------------------------------------------------------------
// Accounts: any login name is an account (devInteractions accept any login
// and any password). The claims are what /me (userinfo) and ID tokens show.
// ---------------------------------------------------------------------------
async function findAccount(ctx, id) {
  return {
    accountId: id,
    async claims(use, scope) {
      return {
        sub: id,
        email: `${id}@example.test`,
        email_verified: true,
        name: `Test User ${id}`,
      };
    },
  };
}

// Every scope the clients may ask for. `read` and `write` stand for an API's
// own scopes; with no resource server configured, only client_credentials
// tokens carry them back in `scope` (the code flow's token is for /me).
const ALL_SCOPES = 'openid email profile offline_access read write';

// RFC 8252: a native client registered with http://127.0.0.1/callback accepts
// that URI with ANY port at run time (our loopback listener binds :0).
// `localhost`, [::1], another path or an added query are rejected.
const LOOPBACK_REDIRECT = 'http://127.0.0.1/callback';
const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';

const clients = [
  {
    // What a desktop app really is (RFC 8252 §8.5): no secret, PKCE only.
    client_id: 'public-native',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    redirect_uris: [LOOPBACK_REDIRECT],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', DEVICE_CODE],
    scope: ALL_SCOPES,
  },
  {
    // A client that authenticates with HTTP Basic; the only one allowed the
    // client_credentials grant (service accounts, server-to-server).
    client_id: 'confidential-native',
    client_secret: 'confidential-secret',
    application_type: 'native',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [LOOPBACK_REDIRECT],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials', DEVICE_CODE],
    scope: ALL_SCOPES,
  },
];

const server = http.createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, HOST, resolve);
});
const { port } = server.address();
const issuer = `http://${HOST}:${port}`;

const provider = new Provider(issuer, {
  clients,
  findAccount,

  // The claims each scope releases (to /me and the ID token).
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'read', 'write'],

  // PKCE on every authorization request. oidc-provider 9 knows only S256:
  // a request with `plain` (or none at all) is rejected.
  pkce: { required: () => true },

  // A refresh token is used once: each refresh returns a new one, and reusing
  // an old one is answered `invalid_grant` AND revokes the whole grant. This is
  // what catches a client that lets two processes refresh at the same time.
  rotateRefreshToken: true,

  // By default a refresh token comes only with `offline_access`, which the
  // provider drops unless prompt=consent is sent. Tests want one whenever the
  // client may use the refresh_token grant.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),

  // The default 15 s of tolerance would keep an "expired" token valid; tests
  // of expiry need tokens to die exactly at `exp`.
  clockTolerance: 0,

  ttl: {
    AccessToken: accessTokenTtl,
    ClientCredentials: accessTokenTtl,
    AuthorizationCode: 60,
    DeviceCode: 600,
    IdToken: 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 14 * 24 * 3600,
    RefreshToken: 14 * 24 * 3600,
  },

  features: {
    // Built-in login and consent pages (any login, any password). The fake
    // browser (browser.mjs) and the Rust play_user() drive these.
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    // RFC 8628: POST /device/auth, the user confirms at GET/POST /device.
    deviceFlow: { enabled: true },
    // RFC 7009: POST /token/revocation answers 200, also for unknown tokens.
    revocation: { enabled: true },
    // RFC 7662: lets tests check that a token really is dead.
    introspection: { enabled: true },
    // GET /me: the "who am I" call.
    userinfo: { enabled: true },
  },

  // Fixed key so the provider does not warn about generated cookie keys.
  // Test-only: this server never leaves 127.0.0.1.
  cookies: { keys: ['planopticon-test-cookie-key'] },

  // Tests read the provider's own words in error bodies: keep them intact.
  renderError: async (ctx, out) => {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// Counting middleware: runs around every provider route. After `next()` the
// route's own error handler has set the error body, so failures count too.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  switch (route) {
    case 'token': {
      const grantType = ctx.oidc?.params?.grant_type ?? ctx.request.body?.grant_type ?? 'unknown';
      bump(stats.token, String(grantType));
      const error = ctx.status >= 400 && ctx.body && typeof ctx.body === 'object' ? ctx.body.error : undefined;
      if (error) {
        bump(stats.token_errors, String(error));
        if (error === 'invalid_grant') stats.invalid_grant += 1;
      }
      break;
    }
    case 'revocation':
      stats.revocation += 1;
      break;
    case 'introspection':
      stats.introspection += 1;
      break;
    case 'userinfo':
      stats.userinfo += 1;
      break;
    case 'authorization':
      stats.authorization += 1;
      break;
    case 'device_authorization':
      stats.device_authorization += 1;
      break;
    default:
      break;
  }
});

// Log provider-side errors to stderr: the first thing to read when a test
// sees an unexpected 400/500.
provider.on('server_error', (ctx, err) => console.error('server_error:', err));
const EXPECTED_POLL_ERRORS = new Set(['authorization_pending', 'slow_down']);
provider.on('grant.error', (ctx, err) => EXPECTED_POLL_ERRORS.has(err.error) || console.error(`grant.error: ${err.name}: ${err.message}${err.error_detail ? ` (${err.error_detail})` : ''}`));

const providerCallback = provider.callback();

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

server.on('request', (req, res) => {
  const path = req.url.split('?', 1)[0];
  if (path === '/_test/stats' && req.method === 'GET') {
    sendJson(res, 200, stats);
    return;
  }
  if (path === '/_test/reset' && req.method === 'POST') {
    req.resume(); // discard any body
    stats = emptyStats();
    sendJson(res, 200, stats);
    return;
  }
  if (path === '/_test/ttl' && req.method === 'POST') {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      let v;
      try {
        v = JSON.parse(body);
      } catch {
        sendJson(res, 400, { error: 'the body must be JSON' });
        return;
      }
      const ttl = v?.access_token_ttl;
      if (!clients.some((c) => c.client_id === v?.client_id)) {
        sendJson(res, 400, { error: `unknown client_id ${JSON.stringify(v?.client_id)}` });
      } else if (ttl === null) {
        clientAccessTtl.delete(v.client_id);
        sendJson(res, 200, { client_id: v.client_id, access_token_ttl: ACCESS_TOKEN_TTL });
      } else if (Number.isInteger(ttl) && ttl > 0) {
        clientAccessTtl.set(v.client_id, ttl);
        sendJson(res, 200, { client_id: v.client_id, access_token_ttl: ttl });
      } else {
        sendJson(res, 400, { error: 'access_token_ttl must be a positive integer of seconds, or null' });
      }
    });
    return;
  }
  if (path.startsWith('/_test/')) {
    sendJson(res, 404, { error: 'unknown test endpoint' });
    return;
  }
  providerCallback(req, res);
});

// Exactly one line on stdout, and only once the server accepts connections.
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

// ---------------------------------------------------------------------------
// Shutdown: on signals, and when the harness goes away (stdin EOF).
// ---------------------------------------------------------------------------
let stopping = false;
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  console.error(`server.mjs: stopping (${why})`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Belt and braces: never linger more than a second.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
// When the harness holds our stdin as a pipe, its end (the harness exited or
// crashed) ends us too. With stdin on a terminal or /dev/null this would fire
// at once or never, so only watch a pipe.
const stdinStat = fs.fstatSync(0);
if (stdinStat.isFIFO() || stdinStat.isSocket()) {
  process.stdin.on('end', () => shutdown('stdin closed'));
  process.stdin.on('error', () => shutdown('stdin error'));
  process.stdin.resume();
}
