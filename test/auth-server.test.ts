import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import WebSocket from 'ws';
import { NetunnelClient } from '../client/client.js';
import type { ServerAuth } from '../common/auth.js';
import { ClientNoAuth } from '../common/auth.js';
import { NetunnelError } from '../common/errors.js';
import { SharedSecretClientAuth } from '../common/shared-secret-client.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';
import type { NetunnelServer } from '../server/server.js';
import { call, connectClient, silentLogger, startServer } from './support/in-process.js';

const SECRET = 'open sesame';

async function tokenFor(server: NetunnelServer): Promise<string> {
  const answer = await call(server, 'POST', '/authenticate', { secret: SECRET });
  assert.equal(answer.status, 200);
  return (answer.body as { token: string }).token;
}

/** The HTTP status of a websocket upgrade, and the error body of a refused one. */
function upgrade(server: NetunnelServer, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body?: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url.replace(/^http/, 'ws') + path, { headers });
    ws.once('open', () => {
      ws.close(1000);
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.once('end', () => {
        resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

describe('a server with the shared-secret plugin', () => {
  let server: NetunnelServer;
  let token: string;

  before(async () => {
    server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET }) });
    token = await tokenFor(server);
  });
  after(() => server.close());

  test('REST: refused without a token (403 JSON AUTH_FAILED), accepted with one', async () => {
    const refused = await call(server, 'GET', '/version');
    assert.equal(refused.status, 403);
    assert.match(refused.type, /^application\/json/);
    assert.deepEqual(refused.body, { error: 'no token: send "Authorization: Bearer <token>" (get one with POST /authenticate)', code: 'AUTH_FAILED' });
    assert.equal((await call(server, 'POST', '/channels', { version: '1.0.12' })).status, 403);
    assert.equal((await call(server, 'GET', '/peers')).status, 403);
    const accepted = await call(server, 'GET', '/version', undefined, { authorization: `Bearer ${token}` });
    assert.equal(accepted.status, 200);
  });

  test('POST /authenticate: a wrong secret is 403 JSON', async () => {
    const answer = await call(server, 'POST', '/authenticate', { secret: 'guess' });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.body, { error: 'wrong secret', code: 'AUTH_FAILED' });
  });

  test('an expired token is 403 JSON saying so (the original answers 500)', async () => {
    const expired = new SharedSecretServerAuth({ secret: SECRET, token_lifetime: 1 }, () => Date.now() - 3_600_000);
    const { token: old } = await expired.authenticate({ body: { secret: SECRET } } as FastifyRequest);
    const answer = await call(server, 'GET', '/version', undefined, { authorization: `Bearer ${old}` });
    assert.equal(answer.status, 403);
    assert.deepEqual(answer.body, { error: 'the token has expired; authenticate again', code: 'AUTH_FAILED' });
  });

  test('websocket upgrades (channel and data) are refused with HTTP 403 before the upgrade, accepted with a token', async () => {
    const created = await call(server, 'POST', '/channels', { version: '1.0.12' }, { authorization: `Bearer ${token}` });
    const channelPath = `/channels/${(created.body as { channel_id: number }).channel_id}/connect`;
    const refused = await upgrade(server, channelPath);
    assert.equal(refused.status, 403);
    assert.equal((refused.body as { code: string }).code, 'AUTH_FAILED');
    assert.equal((await upgrade(server, channelPath, { authorization: 'Bearer forged.token.here' })).status, 403);

    // The data websocket of a real tunnel, so that only auth can refuse it.
    const client = await connectClient(server, { auth: new SharedSecretClientAuth({ secret: SECRET }) });
    try {
      const tunnel = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: 9 });
      const dataPath = `/channels/${client.channelId}/tunnels/${tunnel.id}/connect`;
      const dataRefused = await upgrade(server, dataPath);
      assert.deepEqual([dataRefused.status, (dataRefused.body as { code: string }).code], [403, 'AUTH_FAILED']);
      assert.equal((await upgrade(server, dataPath, { authorization: `Bearer ${token}` })).status, 101);
    } finally {
      await client.close();
    }
    assert.equal((await upgrade(server, channelPath, { authorization: `Bearer ${token}` })).status, 101);
  });

  test("getClientForPeer makes, from a peer's auth data, a client plugin that gets in", async () => {
    const peerAuth = await server.auth.getClientForPeer({ secret: SECRET });
    const client = await connectClient(server, { auth: peerAuth });
    try {
      assert.equal(await client.getVersion(), client.serverVersion);
    } finally {
      await client.close();
    }
    await assert.rejects(server.auth.getClientForPeer({ secret: null }), { code: 'BAD_REQUEST' });
  });

  test('a client without a plugin gets one clear AUTH_FAILED error', async () => {
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger() });
    try {
      await assert.rejects(client.connect(), (err: NetunnelError) => {
        assert.equal(err.code, 'AUTH_FAILED');
        assert.match(err.message, /^the server requires authentication and no auth plugin is configured \(--auth-plugin, --auth-data\): no token/);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});

describe('the auth hook with plugins that misbehave', () => {
  const plugin = (isAuthenticated: ServerAuth['isAuthenticated'], authenticate: ServerAuth['authenticate'] = async () => ({ ok: true })): ServerAuth => ({
    isAuthenticated,
    authenticate,
    getClientForPeer: async () => new ClientNoAuth(),
  });

  test('an exception from isAuthenticated is a 403, not a 500, and does not leak its text', async () => {
    const server = await startServer({}, { auth: plugin(async () => Promise.reject(new Error('database exploded'))) });
    try {
      const answer = await call(server, 'GET', '/version');
      assert.equal(answer.status, 403);
      assert.equal((answer.body as { code: string }).code, 'AUTH_FAILED');
      assert.doesNotMatch(answer.text, /exploded/);
      assert.equal((await upgrade(server, '/channels/1/connect')).status, 403);
    } finally {
      await server.close();
    }
  });

  test('false is a plain 403; a NetunnelError with 401 keeps its status and reason', async () => {
    const server = await startServer({}, {
      auth: plugin(async (request) => {
        if (request.url === '/version') return false;
        throw new NetunnelError('AUTH_FAILED', 'log in first', { statusCode: 401 });
      }),
    });
    try {
      const refused = await call(server, 'GET', '/version');
      assert.equal(refused.status, 403);
      assert.match((refused.body as { error: string }).error, /^authentication required/);
      const challenged = await call(server, 'POST', '/channels', { version: '1' });
      assert.deepEqual([challenged.status, challenged.body], [401, { error: 'log in first', code: 'AUTH_FAILED' }]);
    } finally {
      await server.close();
    }
  });

  test('POST /authenticate is not checked; it answers what the plugin returns, and a plugin crash is a 403', async () => {
    let crash = false;
    const server = await startServer({}, {
      auth: plugin(
        async () => false,
        async (request) => {
          if (crash) throw new TypeError('oops');
          return { echo: request.body };
        },
      ),
    });
    try {
      const answer = await call(server, 'POST', '/authenticate', { a: 1 });
      assert.deepEqual([answer.status, answer.body], [200, { echo: { a: 1 } }]);
      crash = true;
      const crashed = await call(server, 'POST', '/authenticate', { a: 1 });
      assert.equal(crashed.status, 403);
      assert.doesNotMatch(crashed.text, /oops/);
    } finally {
      await server.close();
    }
  });

  test('a plugin that never answers: each request gets a 503 after the deadline, nothing waits on it for ever', async () => {
    const never = () => new Promise<never>(() => {});
    const server = await startServer({}, {
      auth: { isAuthenticated: never, authenticate: never, getClientForPeer: never },
      authTimeoutMs: 300,
    });
    try {
      const stuck = await call(server, 'GET', '/version');
      assert.deepEqual([stuck.status, stuck.body], [503, { error: 'the auth plugin did not check the request within 0.3 s; try again later', code: 'TIMEOUT' }]);
      const authenticating = await call(server, 'POST', '/authenticate', { secret: 'x' });
      assert.deepEqual([authenticating.status, (authenticating.body as { code: string }).code], [503, 'TIMEOUT']);
      await assert.rejects(server.auth.getClientForPeer({}), { code: 'TIMEOUT' });
    } finally {
      await server.close();
    }
  });

  test("a plugin's plain error about a peer's auth_data is a 400 with its reason", async () => {
    const server = await startServer();
    const refusing = await startServer({}, {
      auth: {
        isAuthenticated: async () => true,
        authenticate: async () => ({}),
        getClientForPeer: async () => {
          throw new Error('auth_data needs a string "key"');
        },
      },
    });
    try {
      const answer = await call(refusing, 'POST', '/peers', { name: 'p', target_netunnel_url: server.url, auth_data: { key: 1 } });
      assert.deepEqual([answer.status, answer.body], [400, { error: `the auth plugin refused the peer's auth_data: auth_data needs a string "key"`, code: 'BAD_REQUEST' }]);
    } finally {
      await refusing.close();
      await server.close();
    }
  });

  test('without a plugin everything is allowed, POST /authenticate is a 404 JSON, and peers get no credentials', async () => {
    const server = await startServer();
    try {
      assert.equal((await call(server, 'GET', '/version')).status, 200);
      const answer = await call(server, 'POST', '/authenticate', { secret: 'x' });
      assert.equal(answer.status, 404);
      assert.equal((answer.body as { code: string }).code, 'NOT_FOUND');
      assert.match((answer.body as { error: string }).error, /no auth plugin/);
      assert.deepEqual((await server.auth.getClientForPeer({})).dumpObject(), {});
    } finally {
      await server.close();
    }
  });
});
