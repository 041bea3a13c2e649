import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import type { ClientAuthContext } from '../common/auth.js';
import { ClientNoAuth, ServerNoAuth } from '../common/auth.js';
import { NetunnelError, RemoteError } from '../common/errors.js';
import { readJwtClaims, signJwt, verifyJwt } from '../common/jwt.js';
import { SharedSecretClientAuth } from '../common/shared-secret-client.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const hs256 = (signed: string, secret: string) => createHmac('sha256', secret).update(signed).digest('base64url');

/** A fake request: only what the plugin reads. */
const request = (authorization?: string, body?: unknown) =>
  ({ headers: authorization === undefined ? {} : { authorization }, body }) as unknown as FastifyRequest;

/** A clock the test moves by hand. */
function fakeClock(startMs = 1_700_000_000_000) {
  let now = startMs;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** A context whose POST /authenticate is answered by `server` as if over HTTP. */
function contextFor(server: SharedSecretServerAuth): ClientAuthContext & { posts: number } {
  const context = {
    serverUrl: 'http://127.0.0.1:1',
    posts: 0,
    async post<T>(path: string, body: unknown): Promise<T> {
      assert.equal(path, '/authenticate');
      context.posts++;
      try {
        return (await server.authenticate(request(undefined, body))) as T;
      } catch (err) {
        const e = err as NetunnelError;
        throw new RemoteError(e.statusCode, e.message, e.code);
      }
    },
  };
  return context;
}

describe('JWT HS256', () => {
  test('a token signed with the secret verifies and gives its claims back', () => {
    const token = signJwt({ exp: 12.5, who: 'me' }, 'k');
    assert.deepEqual(verifyJwt(token, 'k'), { exp: 12.5, who: 'me' });
    assert.deepEqual(readJwtClaims(token), { exp: 12.5, who: 'me' });
    assert.deepEqual(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' });
  });

  test('a token made elsewhere the standard way (as PyJWT does) verifies', () => {
    const signed = `${b64({ typ: 'JWT', alg: 'HS256' })}.${b64({ exp: 1e10 })}`;
    assert.deepEqual(verifyJwt(`${signed}.${hs256(signed, 'abc')}`, 'abc'), { exp: 1e10 });
  });

  test('wrong secret, tampered claims, other algorithms and garbage are refused', () => {
    const token = signJwt({ exp: 1 }, 'k');
    const [header, , mac] = token.split('.');
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ exp: 1e10 })}`;
    const hs512 = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64({ exp: 1e10 })}`;
    const refused: [string, RegExp][] = [
      [token, /bad signature/],
      [`${header}.${b64({ exp: 1e10 })}.${mac}`, /bad signature/],
      [`${unsigned}.`, /only HS256/],
      [`${hs512}.${hs256(hs512, 'other')}`, /only HS256/],
      ['not-a-token', /not a JWT/],
      ['a.b.c.d', /not a JWT/],
      [`${b64([1])}.${b64({})}.x`, /not a JWT/],
    ];
    for (const [bad, reason] of refused) {
      assert.throws(() => verifyJwt(bad, 'other'), (err: NetunnelError) => err.code === 'INVALID_TOKEN' && reason.test(err.message), bad);
    }
  });
});

describe('shared-secret server plugin', () => {
  test('the right secret gets a token whose exp is now + token_lifetime, in (fractional) seconds', async () => {
    const clock = fakeClock(1_700_000_000_250);
    const server = new SharedSecretServerAuth({ secret: 's', token_lifetime: 2 }, clock.now);
    const { token } = await server.authenticate(request(undefined, { secret: 's' }));
    assert.deepEqual(verifyJwt(token, 's'), { exp: 1_700_000_002.25 });
    assert.equal(await server.isAuthenticated(request(`Bearer ${token}`)), true);
    // The type word is not checked, as in the original.
    assert.equal(await server.isAuthenticated(request(`JWT ${token}`)), true);
  });

  test('the default lifetime is 30 minutes', async () => {
    const clock = fakeClock();
    const { token } = await new SharedSecretServerAuth({ secret: 's' }, clock.now).authenticate(request(undefined, { secret: 's' }));
    assert.equal(readJwtClaims(token).exp, clock.now() / 1000 + 1800);
  });

  test('a wrong secret is AUTH_FAILED (403) and a body without one BAD_REQUEST', async () => {
    const server = new SharedSecretServerAuth({ secret: 's' });
    await assert.rejects(server.authenticate(request(undefined, { secret: 'S' })), { code: 'AUTH_FAILED', statusCode: 403, message: 'wrong secret' });
    await assert.rejects(server.authenticate(request(undefined, undefined)), { code: 'BAD_REQUEST' });
    await assert.rejects(server.authenticate(request(undefined, { secret: 5 })), { code: 'BAD_REQUEST' });
  });

  test('missing, malformed, foreign and expired tokens are refused with a reason', async () => {
    const clock = fakeClock();
    const server = new SharedSecretServerAuth({ secret: 's', token_lifetime: 10 }, clock.now);
    const { token } = await server.authenticate(request(undefined, { secret: 's' }));
    const cases: [string | undefined, RegExp][] = [
      [undefined, /no token/],
      [token, /no token/],
      [`Bearer ${token} extra`, /no token/],
      [`Bearer ${signJwt({ exp: 1e12 }, 'other')}`, /bad signature/],
      [`Bearer ${signJwt({}, 's')}`, /no expiry/],
    ];
    for (const [authorization, reason] of cases) {
      await assert.rejects(server.isAuthenticated(request(authorization)), (err: NetunnelError) => err.code === 'AUTH_FAILED' && reason.test(err.message));
    }
    clock.advance(9_999);
    assert.equal(await server.isAuthenticated(request(`Bearer ${token}`)), true);
    clock.advance(1);
    await assert.rejects(server.isAuthenticated(request(`Bearer ${token}`)), { code: 'AUTH_FAILED', message: /expired/ });
  });

  test('unusable options are BAD_REQUEST with a sentence', () => {
    for (const options of [{}, { secret: '' }, { secret: 3 }, null]) {
      assert.throws(() => new SharedSecretServerAuth(options as never), { code: 'BAD_REQUEST', message: /needs a non-empty string "secret"/ });
    }
    for (const token_lifetime of [0, -1, '60', Infinity]) {
      assert.throws(() => new SharedSecretServerAuth({ secret: 's', token_lifetime } as never), { code: 'BAD_REQUEST', message: /token_lifetime/ });
    }
  });

  test('getClientForPeer builds the client plugin from the peer auth data, and refuses unusable data', async () => {
    const server = new SharedSecretServerAuth({ secret: 's' });
    const client = await server.getClientForPeer({ secret: 'peer-secret' });
    assert.ok(client instanceof SharedSecretClientAuth);
    assert.deepEqual(client.dumpObject(), { secret: 'peer-secret' });
    await assert.rejects(server.getClientForPeer({}), { code: 'BAD_REQUEST', message: /"secret"/ });
    await assert.rejects(server.getClientForPeer({ secret: 42 }), { code: 'BAD_REQUEST' });
  });
});

describe('shared-secret client plugin', () => {
  test('is not authenticated until it has a token, then sends it as a Bearer header', async () => {
    const server = new SharedSecretServerAuth({ secret: 's' });
    const client = new SharedSecretClientAuth({ secret: 's' });
    assert.equal(await client.isAuthenticated(), false);
    assert.deepEqual(await client.getAuthorizedHeaders(), {});
    await client.authenticate(contextFor(server));
    assert.equal(await client.isAuthenticated(), true);
    const headers = await client.getAuthorizedHeaders();
    assert.match(headers.authorization!, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(await server.isAuthenticated(request(headers.authorization)), true);
    assert.deepEqual(client.dumpObject(), { secret: 's' });
  });

  test('asks for a new token when 10% of its life is left (at most 30 s, at least 1 s before expiry)', async () => {
    for (const [lifetimeS, marginMs] of [
      [100, 10_000],
      [1800, 30_000],
      [2, 1_000],
    ] as const) {
      const clock = fakeClock();
      const server = new SharedSecretServerAuth({ secret: 's', token_lifetime: lifetimeS }, clock.now);
      const client = new SharedSecretClientAuth({ secret: 's' }, clock.now);
      await client.authenticate(contextFor(server));
      clock.advance(lifetimeS * 1000 - marginMs - 1);
      assert.equal(await client.isAuthenticated(), true, `lifetime ${lifetimeS}`);
      clock.advance(1);
      assert.equal(await client.isAuthenticated(), false, `lifetime ${lifetimeS}`);
    }
  });

  test('a refused secret is AUTH_FAILED naming the server; other failures pass unchanged', async () => {
    const client = new SharedSecretClientAuth({ secret: 'wrong' });
    await assert.rejects(client.authenticate(contextFor(new SharedSecretServerAuth({ secret: 's' }))), {
      code: 'AUTH_FAILED',
      message: 'the server at http://127.0.0.1:1 refused the shared secret: wrong secret',
    });
    const down = new NetunnelError('SERVER_UNREACHABLE', 'down');
    await assert.rejects(client.authenticate({ serverUrl: 'x', post: () => Promise.reject(down) }), down);
    await assert.rejects(client.authenticate({ serverUrl: 'x', post: async <T>() => ({}) as T }), { code: 'PROTOCOL' });
  });

  test('refuses unusable options', () => {
    assert.throws(() => new SharedSecretClientAuth({} as never), { code: 'BAD_REQUEST', message: /shared-secret client plugin needs/ });
  });
});

describe('no-auth defaults', () => {
  test('the server lets everyone in and gives peers a client without credentials', async () => {
    const server = new ServerNoAuth();
    assert.equal(await server.isAuthenticated(), true);
    await assert.rejects(server.authenticate(), { code: 'NOT_FOUND', statusCode: 404 });
    const client = await server.getClientForPeer();
    assert.ok(client instanceof ClientNoAuth);
    assert.equal(await client.isAuthenticated(), true);
    assert.deepEqual(await client.getAuthorizedHeaders(), {});
    assert.deepEqual(client.dumpObject(), {});
  });
});
