// A real OpenID Provider for the dicom-identity tests: panva's oidc-provider (OpenID Certified),
// bound to 127.0.0.1, with everything it needs coming from a JSON file the tests write.
//
//   node server.js --config CONFIG.json [--port N] [--exit-with-stdin] [--tls-cert F --tls-key F]
//
// --port 0 (the default) lets the system choose; the one line on stdout, once requests are
// answered, is `listening on http://127.0.0.1:PORT` (the issuer; https:// with --tls-cert and
// --tls-key, the PEM files of the server's certificate chain and private key). --exit-with-stdin: exit when
// stdin reaches end of file, so a test run that dies does not leave the server behind.
//
// The configuration (every key optional but `clients`; see tests/oidc_fixtures.py for a full one):
//   users: {LOGIN: {password, claims: {name, email, ...}}}: who can sign in on the login page
//   clients: [oidc-provider client metadata (client_id, client_secret, token_endpoint_auth_method,
//             grant_types, response_types, redirect_uris, application_type, jwks, scope, ...)]
//   resources: {RESOURCE_URI: {audience, scope, access_token_ttl}}: resource indicators
//             (RFC 8707); each issues RFC 9068 JWT access tokens whose `aud` is `audience`
//   default_resource: RESOURCE_URI used when a request names none (null: opaque tokens then)
//   ttl: {AccessToken, ClientCredentials, DeviceCode, RefreshToken, IdToken, AuthorizationCode,
//         Interaction, Session, Grant}: seconds
//   keep_old_keys: whether rotate-keys keeps the previous signing keys in the JWKS (default true)
//
// Test-only admin endpoint (answered only to 127.0.0.1):
//   POST /__test/rotate-keys[?keep_old=true|false]: a new RS256 signing key with a new kid becomes
//   the one that signs; answers {"kid": NEW_KID, "kids": [KIDS IN THE JWKS]}.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as querystring from 'node:querystring';

// oidc-provider prints its notices with console.info, i.e. on stdout; stdout is for the ready line
// alone, so anything else goes to stderr. Set before the import (its module code warns at load).
console.info = console.error;
console.log = console.error;
const { default: Provider, errors } = await import('oidc-provider');
const { sharedMemoryAdapter } = await import('./adapter.js');

const DEFAULT_TTL = {
  AccessToken: 300,
  AuthorizationCode: 60,
  ClientCredentials: 300,
  DeviceCode: 600,
  Grant: 86400,
  IdToken: 300,
  Interaction: 600,
  RefreshToken: 86400,
  Session: 3600,
};
const MAX_FORM_BYTES = 16 * 1024;
const CLOCK_TOLERANCE = 15; // seconds; oidc-provider's default, stated so the adapter uses it too

function fail(message) {
  process.stderr.write(`oidc_op: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const args = { port: 0, exitWithStdin: false, config: undefined, tlsCert: undefined, tlsKey: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--config') args.config = argv[(i += 1)];
    else if (arg === '--port') args.port = Number(argv[(i += 1)]);
    else if (arg === '--exit-with-stdin') args.exitWithStdin = true;
    else if (arg === '--tls-cert') args.tlsCert = argv[(i += 1)];
    else if (arg === '--tls-key') args.tlsKey = argv[(i += 1)];
    else fail(`unknown argument ${JSON.stringify(arg)}; usage: server.js --config FILE [--port N] [--exit-with-stdin] [--tls-cert FILE --tls-key FILE]`);
  }
  if (!args.config) fail('--config FILE is required');
  if (Boolean(args.tlsCert) !== Boolean(args.tlsKey)) fail('--tls-cert and --tls-key go together');
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    fail('--port must be an integer from 0 to 65535');
  }
  return args;
}

function loadConfig(path) {
  let config;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fail(`cannot read the configuration ${path}: ${error.message}`);
  }
  if (!Array.isArray(config.clients)) fail(`${path}: "clients" must be a list of client metadata`);
  config.users ??= {};
  config.resources ??= {};
  config.default_resource ??= null;
  config.keep_old_keys ??= true;
  config.ttl = { ...DEFAULT_TTL, ...config.ttl };
  for (const [name, seconds] of Object.entries(config.ttl)) {
    if (!(name in DEFAULT_TTL)) fail(`${path}: ttl.${name} is not one of ${Object.keys(DEFAULT_TTL).join(', ')}`);
    if (!Number.isInteger(seconds) || seconds < 1) fail(`${path}: ttl.${name} must be a whole number of seconds >= 1`);
  }
  if (config.default_resource !== null && !(config.default_resource in config.resources)) {
    fail(`${path}: default_resource ${JSON.stringify(config.default_resource)} is not in "resources"`);
  }
  return config;
}

function newSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = `rs256-${crypto.randomBytes(6).toString('hex')}`;
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>`;
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new errors.InvalidRequest('form too large');
    chunks.push(chunk);
  }
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

function samePassword(expected, given) {
  // Compared as digests so the lengths match (timingSafeEqual needs equal lengths).
  const digest = (text) => crypto.createHash('sha256').update(String(text), 'utf8').digest();
  return crypto.timingSafeEqual(digest(expected), digest(given));
}

function isLoopback(req) {
  const address = req.socket.remoteAddress ?? '';
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}

const args = parseArgs(process.argv.slice(2));
const config = loadConfig(args.config);
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
let signingKeys = [newSigningKey()];
let handle; // the current provider's request handler; replaced when the keys rotate

function renderDeviceInput(ctx, form, out, err) {
  const message = err
    ? `<p class="error" id="op.deviceError" data-error="${escapeHtml(err.name)}">${escapeHtml(err.message)}</p>`
    : '<p>Enter the code displayed on your device</p>';
  ctx.body = page('Sign-in', `${message}
${form}
<button type="submit" form="op.deviceInputForm">Continue</button>`);
}

function renderDeviceConfirm(ctx, form, client, deviceInfo, userCode) {
  ctx.body = page('Confirm Device', `<p>${escapeHtml(client.clientName || client.clientId)} shows the code
<code id="op.userCode">${escapeHtml(userCode)}</code></p>
${form}
<button autofocus type="submit" form="op.deviceConfirmForm">Continue</button>
<button type="submit" form="op.deviceConfirmForm" value="yes" name="abort">[ Abort ]</button>`);
}

function renderDeviceSuccess(ctx) {
  ctx.body = page('Sign-in Success', '<p id="op.deviceSuccess">You can now close this page.</p>');
}

function renderError(ctx, out) {
  ctx.type = 'html';
  const rows = Object.entries(out)
    .map(([key, value]) => `<pre id="op.${escapeHtml(key)}">${escapeHtml(value)}</pre>`)
    .join('\n');
  ctx.body = page('Error', rows);
}

async function findAccount(ctx, sub) {
  const user = Object.hasOwn(config.users, sub) ? config.users[sub] : undefined;
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return { ...user.claims, sub };
    },
  };
}

async function getResourceServerInfo(ctx, indicator) {
  const resource = Object.hasOwn(config.resources, indicator) ? config.resources[indicator] : undefined;
  if (!resource) throw new errors.InvalidTarget(`unknown resource indicator ${indicator}`);
  return {
    audience: resource.audience ?? indicator,
    scope: resource.scope ?? '',
    accessTokenFormat: 'jwt', // RFC 9068: typ at+jwt, signed with the provider's current key
    accessTokenTTL: resource.access_token_ttl,
    jwt: { sign: { alg: 'RS256' } },
  };
}

// The dev login page takes any login; this one checks it against config.users first.
function checkPasswords(provider) {
  return async function passwordCheck(ctx, next) {
    if (ctx.method !== 'POST' || !/^\/interaction\/[^/]+$/.test(ctx.path)) return next();
    let details;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      return next(); // no interaction: the provider's own route answers with its error
    }
    if (details.prompt.name !== 'login') return next();
    const form = await readForm(ctx.req);
    const login = typeof form.login === 'string' ? form.login : '';
    const user = Object.hasOwn(config.users, login) ? config.users[login] : undefined;
    if (!user || !samePassword(user.password, typeof form.password === 'string' ? form.password : '')) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Sign-in', `<p class="error" id="op.loginError">invalid login or password</p>
<form autocomplete="off" action="${escapeHtml(ctx.path)}" method="post">
<input type="hidden" name="prompt" value="login"/>
<input required type="text" name="login"/>
<input required type="password" name="password"/>
<button type="submit">Sign-in</button>
</form>`);
      return undefined;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
    return undefined;
  };
}

function resourceScopes() {
  return Object.values(config.resources).flatMap((r) => (r.scope ?? '').split(' ').filter(Boolean));
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: sharedMemoryAdapter(CLOCK_TOLERANCE),
    clockTolerance: CLOCK_TOLERANCE,
    clients: config.clients,
    jwks: { keys: signingKeys },
    cookies: { keys: cookieKeys },
    findAccount,
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: [...new Set(['openid', 'offline_access', 'profile', 'email', ...resourceScopes()])],
    responseTypes: ['code'],
    ttl: { ...config.ttl },
    clientBasedCORS: () => false,
    renderError,
    features: {
      devInteractions: { enabled: true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: renderDeviceInput,
        userCodeConfirmSource: renderDeviceConfirm,
        successSource: renderDeviceSuccess,
      },
      clientCredentials: { enabled: true },
      revocation: {
        enabled: true,
        // A client revokes its own tokens only (the library's default, without its notice).
        async allowedPolicy(ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      introspection: {
        enabled: true,
        async allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== client.clientId);
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(ctx, client, oneOf) {
          return oneOf ?? config.default_resource ?? undefined;
        },
        // At the token endpoint a request that names no resource gets the granted one (a JWT for
        // the PACS) rather than an opaque token for the userinfo endpoint.
        async useGrantedResource() {
          return true;
        },
        getResourceServerInfo,
      },
    },
  });
  provider.on('server_error', (ctx, error) => {
    process.stderr.write(`oidc_op: server_error on ${ctx.method} ${ctx.path}: ${error.stack}\n`);
  });
  // Why a request was refused (oidc-provider's error_detail is not sent to the client): on stderr,
  // the fixture's log, for the test that has to find out why.
  for (const event of ['grant.error', 'authorization.error', 'introspection.error', 'revocation.error']) {
    provider.on(event, (ctx, error) => {
      const detail = error.error_detail ? ` (${error.error_detail})` : '';
      process.stderr.write(`oidc_op: ${event} ${ctx.method} ${ctx.path}: ${error.message}${detail}\n`);
    });
  }
  // Each token request, for the tests that count them or check what was sent: the form's keys
  // (never a value but scope's, resource's and audience's), the Authorization scheme, the client.
  const tokenRequest = (outcome) => (ctx) => {
    const body = ctx.oidc?.body ?? {};
    const text = (key) => (typeof body[key] === 'string' ? body[key] : null);
    const record = {
      outcome,
      grant_type: text('grant_type'),
      keys: Object.keys(body).sort(),
      auth_scheme: (ctx.get('authorization') || '').split(' ')[0] || null,
      client_id: ctx.oidc?.client?.clientId ?? null,
      scope: text('scope'),
      resource: text('resource'),
      audience: text('audience'),
    };
    process.stderr.write(`oidc_op: token request ${JSON.stringify(record)}\n`);
  };
  provider.on('grant.success', tokenRequest('issued'));
  provider.on('grant.error', tokenRequest('refused'));
  provider.use(checkPasswords(provider));
  return provider;
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function rotateKeys(issuer, keepOld) {
  const key = newSigningKey();
  // The first key that fits the algorithm signs: the new one goes first.
  signingKeys = keepOld ? [key, ...signingKeys] : [key];
  // A new Provider with the new key set. The adapter's store belongs to the process (adapter.js),
  // so grants, sessions, codes and refresh tokens carry over; the cookie keys stay the same.
  handle = buildProvider(issuer).callback();
  return { kid: key.kid, kids: signingKeys.map((k) => k.kid) };
}

function testAdmin(req, res, issuer) {
  if (!isLoopback(req)) return sendJson(res, 403, { error: 'only from 127.0.0.1' });
  const url = new URL(req.url, issuer);
  if (req.method === 'POST' && url.pathname === '/__test/rotate-keys') {
    const keep = url.searchParams.get('keep_old');
    if (keep !== null && keep !== 'true' && keep !== 'false') {
      return sendJson(res, 400, { error: 'keep_old must be true or false' });
    }
    return sendJson(res, 200, rotateKeys(issuer, keep === null ? config.keep_old_keys : keep === 'true'));
  }
  return sendJson(res, 404, { error: `no test endpoint ${req.method} ${url.pathname}` });
}

function route(req, res) {
  if (req.url.startsWith('/__test/')) return testAdmin(req, res, server.issuer);
  return handle(req, res);
}
function readPem(path) {
  try {
    return readFileSync(path);
  } catch (error) {
    return fail(`cannot read ${path}: ${error.message}`);
  }
}
const scheme = args.tlsCert ? 'https' : 'http';
const server = args.tlsCert
  ? https.createServer({ cert: readPem(args.tlsCert), key: readPem(args.tlsKey) }, route)
  : http.createServer(route);
server.on('error', (error) => fail(`cannot listen on 127.0.0.1:${args.port}: ${error.message}`));
// Static clients are checked on first use; look each one up now so a bad one fails the start.
async function checkClients(provider) {
  for (const { client_id: clientId } of config.clients) {
    try {
      await provider.Client.find(String(clientId));
    } catch (error) {
      fail(`client ${JSON.stringify(clientId)}: ${error.message}: ${error.error_description ?? ''}`);
    }
  }
}

server.listen(args.port, '127.0.0.1', async () => {
  const { port } = server.address();
  server.issuer = `${scheme}://127.0.0.1:${port}`;
  const provider = buildProvider(server.issuer);
  await checkClients(provider);
  handle = provider.callback();
  process.stdout.write(`listening on ${server.issuer}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (args.exitWithStdin) {
  process.stdin.on('end', stop);
  process.stdin.resume();
}
