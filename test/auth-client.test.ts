import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { NetunnelClient } from '../client/client.js';
import type { ClientAuthContext } from '../common/auth.js';
import { NetunnelError } from '../common/errors.js';
import { FEATURES } from '../common/protocol.js';
import { SharedSecretClientAuth } from '../common/shared-secret-client.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';
import type { NetunnelServer } from '../server/server.js';
import { startProxy } from './support/http-proxy.js';
import { connectClient, silentLogger, startServer } from './support/in-process.js';
import { echoServer, exchange, randomBytes } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const SECRET = 'shared';

/** The built-in client plugin, counting its authentications (slowed a little, so that concurrent ones would overlap). */
class CountingClientAuth extends SharedSecretClientAuth {
  authentications = 0;

  constructor() {
    super({ secret: SECRET });
  }

  override async authenticate(context: ClientAuthContext): Promise<void> {
    this.authentications++;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await super.authenticate(context);
  }
}

/** Every data websocket authenticates: without reuse, each connection opens its own. */
const ONE_WEBSOCKET_PER_CONNECTION = FEATURES.filter((feature) => feature !== 'websocket-reuse');

/** Sends random bytes through the tunnel entrance and checks they come back whole. */
async function roundTrip(port: number): Promise<void> {
  const payload = randomBytes(16 * 1024);
  assert.deepEqual(await exchange(port, payload, 15_000), payload);
}

describe('client credentials', () => {
  let echo: TestServer;
  before(async () => (echo = await echoServer()));
  after(() => echo.close());

  test('tokens of 2 s: forward and reverse connections keep working across several expiries', async () => {
    const server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET, token_lifetime: 2 }) });
    const auth = new CountingClientAuth();
    let client: NetunnelClient | undefined;
    try {
      client = await connectClient(server, { auth, features: ONE_WEBSOCKET_PER_CONNECTION });
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      const reverse = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: echo.port, remotePort: 0 });
      // Token n is taken about n seconds in and expires 2 s later: the 6th comes after 3 have expired.
      let rounds = 0;
      while (auth.authentications < 6) {
        assert.ok(++rounds <= 200, `only ${auth.authentications} authentications after ${rounds} rounds`);
        await roundTrip(forward.entrance.port);
        await roundTrip(reverse.entrance.port);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await roundTrip(forward.entrance.port);
      await roundTrip(reverse.entrance.port);
    } finally {
      await client?.close();
      await server.close();
    }
  });

  describe('on a server whose clock jumps ahead (every token it gave expires at once)', () => {
    let skewMs = 0;
    let server: NetunnelServer;
    before(async () => {
      server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET, token_lifetime: 3600 }, () => Date.now() + skewMs) });
    });
    after(() => server.close());

    test('concurrent first requests authenticate once', async () => {
      const auth = new CountingClientAuth();
      const client = await connectClient(server, { auth });
      try {
        await Promise.all(Array.from({ length: 10 }, () => client.getVersion()));
        assert.equal(auth.authentications, 1);
      } finally {
        await client.close();
      }
    });

    test('a refused token is renewed once and the request retried, for REST calls and websockets', async () => {
      const auth = new CountingClientAuth();
      const client = await connectClient(server, { auth, features: ONE_WEBSOCKET_PER_CONNECTION });
      try {
        const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
        await roundTrip(forward.entrance.port);
        assert.equal(auth.authentications, 1);

        skewMs += 2 * 3600_000;
        const versions = await Promise.all(Array.from({ length: 10 }, () => client.getVersion()));
        assert.equal(new Set(versions).size, 1);
        assert.equal(auth.authentications, 2, 'ten refused calls, one renewal');

        // The next connection takes the spare opened before the jump; the one opened after it is refused, then retried.
        skewMs += 2 * 3600_000;
        await roundTrip(forward.entrance.port);
        await roundTrip(forward.entrance.port);
        assert.equal(auth.authentications, 3);
      } finally {
        await client.close();
      }
    });
  });

  test('credentials refused even when fresh are one AUTH_FAILED error after a single renewal', async () => {
    class RefusingServerAuth extends SharedSecretServerAuth {
      override async isAuthenticated(_request: FastifyRequest): Promise<boolean> {
        return false;
      }
    }
    const server = await startServer({}, { auth: new RefusingServerAuth({ secret: SECRET }) });
    const auth = new CountingClientAuth();
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger(), auth });
    try {
      await assert.rejects(client.connect(), (err: NetunnelError) => {
        assert.equal(err.code, 'AUTH_FAILED');
        assert.match(err.message, /^the server refused our fresh credentials: authentication required/);
        return true;
      });
      assert.equal(auth.authentications, 2);
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('through an HTTP proxy, the authentication goes the same way as every other request', async () => {
    const server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET }) });
    const proxy = await startProxy();
    const client = await connectClient(server, { auth: new SharedSecretClientAuth({ secret: SECRET }), proxy: { url: proxy.url } });
    try {
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      await roundTrip(forward.entrance.port);
      assert.ok(proxy.seen.includes(`POST ${server.url}/authenticate`), proxy.seen.join('\n'));
      assert.ok(proxy.seen.includes(`CONNECT 127.0.0.1:${server.address.port}`), proxy.seen.join('\n'));
    } finally {
      await client.close();
      // Before the proxy: it would leave its side of the CONNECT tunnels open, and the server would wait for their heartbeat.
      await server.close();
      await proxy.close();
    }
  });

  test('a wrong secret fails the connection with AUTH_FAILED', async () => {
    const server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET }) });
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger(), auth: new SharedSecretClientAuth({ secret: 'nope' }) });
    try {
      await assert.rejects(client.connect(), {
        code: 'AUTH_FAILED',
        message: `the server at ${server.url} refused the shared secret: wrong secret`,
      });
    } finally {
      await client.close();
      await server.close();
    }
  });
});
