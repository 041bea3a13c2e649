/**
 * Peers behind an auth plugin (the original suite's test_authenticated_peer): registering
 * without, with wrong and with right auth_data, the data stored encrypted and shown masked,
 * and a static tunnel that keeps working across token renewals.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MASKED_SECRET } from '../common/protocol.js';
import type { PeerResponse, StaticTunnelResponse } from '../common/protocol.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';
import { ConfigStore } from '../server/config/store.js';
import { NetunnelServer } from '../server/server.js';
import { call, silentLogger, startServer } from './support/in-process.js';
import { echoServer, exchange, freePort } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';
import { waitForStaticTunnel } from './support/static-tunnels.js';
import { withTempDir } from './support/temp-dir.js';

const SECRET = 'peer-secret-123';
const FAST = { backoff: { initialMs: 100, maxMs: 400 }, healthIntervalMs: 60_000 };

describe('peers behind an auth plugin', () => {
  let peer: NetunnelServer;
  let echo: TestServer;

  before(async () => {
    // Tokens live 2 s: the static tunnel below outlives several of them.
    peer = await startServer({}, { auth: new SharedSecretServerAuth({ secret: SECRET, token_lifetime: 2 }) });
    echo = await echoServer();
  });
  after(async () => {
    await peer.close();
    await echo.close();
  });

  test('registering needs the right auth_data; it is stored encrypted, shown masked, and used by static tunnels', () =>
    withTempDir(async (dir) => {
      const path = join(dir, 'server.conf');
      const config = await ConfigStore.open({ path, env: {}, logger: silentLogger() });
      const auth = new SharedSecretServerAuth({ secret: 'this-servers-own-secret' });
      const server = await NetunnelServer.start({ host: '127.0.0.1', port: 0, logger: silentLogger(), config, auth, staticTunnels: FAST });
      const headers = await authorization(server, 'this-servers-own-secret');
      try {
        const without = await call(server, 'POST', '/peers', { name: 'p', target_netunnel_url: peer.url }, headers);
        assert.equal(without.status, 400, without.text);
        assert.match((without.body as { error: string }).error, /secret/);

        const wrong = await call(server, 'POST', '/peers', { name: 'p', target_netunnel_url: peer.url, auth_data: { secret: 'nope' } }, headers);
        assert.equal(wrong.status, 403, wrong.text);
        assert.match((wrong.body as { error: string }).error, /Failed to authenticate with peer `p`/);

        const right = await call(server, 'POST', '/peers', { name: 'p', target_netunnel_url: peer.url, auth_data: { secret: SECRET } }, headers);
        assert.equal(right.status, 200, right.text);
        const registered = right.body as PeerResponse;
        assert.deepEqual(registered.auth_data, { secret: MASKED_SECRET });

        const file = await readFile(path, 'utf8');
        assert.ok(!file.includes(SECRET), 'the peer secret is not in the config file in clear');
        const stored = (JSON.parse(file) as { peers: { auth_data: unknown }[] }).peers[0]!.auth_data;
        assert.equal(typeof stored, 'string', 'auth_data is stored as a Fernet token');
        assert.equal(JSON.parse(config.decryptSecret(stored as string)).secret, SECRET);

        const localPort = await freePort();
        const created = await call(server, 'POST', `/peers/${registered.id}/static_tunnels`, { tunnel_remote_port: echo.port, tunnel_local_port: localPort }, headers);
        assert.equal(created.status, 200, created.text);
        await waitForStaticTunnel(server, registered.id, 1, 'online', { headers });
        // New connections need new data websockets, each authorised: across several token lifetimes.
        const deadline = Date.now() + 6_500;
        let rounds = 0;
        while (Date.now() < deadline) {
          assert.deepEqual(await exchange(localPort, Buffer.from(`round ${rounds}`)), Buffer.from(`round ${rounds}`));
          rounds++;
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        assert.equal(((await call(server, 'GET', `/peers/${registered.id}/static_tunnels/1`, undefined, headers)).body as StaticTunnelResponse).state, 'online');
      } finally {
        await server.close();
      }
    }));
});

async function authorization(server: NetunnelServer, secret: string): Promise<Record<string, string>> {
  const { body } = await call(server, 'POST', '/authenticate', { secret });
  return { authorization: `Bearer ${(body as { token: string }).token}` };
}
