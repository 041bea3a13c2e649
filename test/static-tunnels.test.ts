/**
 * Static tunnels that heal themselves (netunnel-wire.md §5, design.md §4): refusals, proxy
 * faults and registry names, against real servers, a real proxy and real sockets on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PeerResponse, StaticTunnelResponse } from '../common/protocol.js';
import { readFile } from 'node:fs/promises';
import { connectTcp } from '../common/tcp.js';
import type { NetunnelServer } from '../server/server.js';
import { makeCertificates } from './support/certificates.js';
import { startProxy } from './support/http-proxy.js';
import type { TestProxy } from './support/http-proxy.js';
import { call, startServer } from './support/in-process.js';
import { waitForStaticTunnel } from './support/static-tunnels.js';
import { echoServer, exchange, freePort, isRefused } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';
import { withTempDir } from './support/temp-dir.js';

const FAST = { staticTunnels: { backoff: { initialMs: 100, maxMs: 400 }, healthIntervalMs: 60_000 } };

describe('static tunnels', () => {
  let peer: NetunnelServer;
  let echo: TestServer;

  before(async () => {
    peer = await startServer();
    echo = await echoServer();
  });
  after(async () => {
    await peer.close();
    await echo.close();
  });

  test('a destination the peer refuses is a state with the reason; the server keeps serving', async () => {
    const server = await startServer({}, FAST);
    try {
      const id = await register(server, peer.url);
      const tunnel = await createTunnel(server, id, { tunnel_remote_address: '10.9.9.9', tunnel_remote_port: 22 });
      const offline = await waitForStaticTunnel(server, id, tunnel.id, 'offline');
      assert.match(offline.last_error ?? '', /10\.9\.9\.9 is not allowed as a tunnel destination/);
      assert.ok(await isRefused(tunnel.tunnel_local_port), 'an offline tunnel refuses connections');
      assert.equal((await call(server, 'GET', '/version')).status, 200);
    } finally {
      await server.close();
    }
  });

  test("a config file's static tunnel obeys allowed_tunnel_entrances, as one made through the API", async () => {
    const port = await freePort();
    const hand = { name: 'hand', target_netunnel_url: peer.url, static_tunnels: [{ tunnel_local_address: '0.0.0.0', tunnel_local_port: port, tunnel_remote_port: echo.port }] };
    const server = await startServer({ peers: [hand] }, FAST);
    try {
      const offline = await waitForStaticTunnel(server, 1, 1, 'offline');
      assert.match(offline.last_error ?? '', /Address 0\.0\.0\.0 is not allowed as a tunnel entrance/);
      assert.ok(await isRefused(port), 'nothing listens on every interface');
    } finally {
      await server.close();
    }
  });

  test('a server may be its own peer, as in the original suite', async () => {
    const server = await startServer({}, FAST);
    try {
      const id = await register(server, server.url);
      const tunnel = await createTunnel(server, id, { tunnel_remote_port: echo.port });
      await waitForStaticTunnel(server, id, tunnel.id, 'online');
      assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('to myself')), Buffer.from('to myself'));
    } finally {
      await server.close();
    }
  });

  test('the remote end may be a name in the peer\'s tunnel registry', async () => {
    const handle = peer.registry.register(['gw9'], 2222, { open: () => connectTcp('127.0.0.1', echo.port) }, { kind: 'test' });
    const server = await startServer({}, FAST);
    try {
      const id = await register(server, peer.url);
      const tunnel = await createTunnel(server, id, { tunnel_remote_address: 'gw9', tunnel_remote_port: 2222 });
      await waitForStaticTunnel(server, id, tunnel.id, 'online');
      assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('by name')), Buffer.from('by name'));
    } finally {
      await server.close();
      handle.unregister();
    }
  });

  describe('through the server\'s HTTP proxy', () => {
    let proxy: TestProxy;
    before(async () => {
      proxy = await startProxy({ username: 'peeruser', password: 'peerpass' });
    });
    after(() => proxy.close());

    test('peers use the global proxy with its credentials; a dead proxy takes them offline, removing it brings them back', async () => {
      const server = await startServer({}, FAST);
      try {
        const set = await call(server, 'POST', '/config/http-proxy', { proxy_url: proxy.url, username: 'peeruser', password: 'peerpass', check_proxy: false });
        assert.equal(set.status, 200, set.text);
        const id = await register(server, peer.url);
        const tunnel = await createTunnel(server, id, { tunnel_remote_port: echo.port });
        await waitForStaticTunnel(server, id, tunnel.id, 'online');
        assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('proxied')), Buffer.from('proxied'));
        const peerHost = new URL(peer.url).host;
        assert.ok(proxy.seen.includes(`POST ${peer.url}/channels`), `REST through the proxy: ${proxy.seen.join(', ')}`);
        assert.ok(proxy.seen.includes(`CONNECT ${peerHost}`), `websockets through the proxy: ${proxy.seen.join(', ')}`);
        assert.ok(proxy.authorized > 0);

        const deadProxy = `http://127.0.0.1:${await freePort()}`;
        assert.equal((await call(server, 'POST', '/config/http-proxy', { proxy_url: deadProxy, check_proxy: false })).status, 200);
        const offline = await waitForStaticTunnel(server, id, tunnel.id, 'offline');
        assert.match(offline.last_error ?? '', /proxy/);
        assert.ok(await isRefused(tunnel.tunnel_local_port));

        assert.equal((await call(server, 'POST', '/config/http-proxy', { proxy_url: null })).status, 200);
        await waitForStaticTunnel(server, id, tunnel.id, 'online');
        assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('direct')), Buffer.from('direct'));
      } finally {
        await server.close();
      }
    });
  });

  test('an HTTPS peer with a certificate we cannot verify: refused, unless allow_unverified_ssl_peers', () =>
    withTempDir(async (dir) => {
      const certs = await makeCertificates(dir);
      const tls = { cert: await readFile(certs.selfSignedCert), key: await readFile(certs.selfSignedKey) };
      const securePeer = await startServer({}, { tls });
      const server = await startServer({}, FAST);
      const servers = [server];
      try {
        const refused = await call(server, 'POST', '/peers', { name: 'tls', target_netunnel_url: securePeer.url });
        assert.equal(refused.status, 502, refused.text);
        assert.match((refused.body as { error: string }).error, /certificate/);
        const trusting = await startServer({ allow_unverified_ssl_peers: true }, FAST);
        servers.push(trusting);
        const id = await register(trusting, securePeer.url);
        const tunnel = await createTunnel(trusting, id, { tunnel_remote_port: echo.port });
        await waitForStaticTunnel(trusting, id, tunnel.id, 'online');
        assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('over wss')), Buffer.from('over wss'));
      } finally {
        for (const started of servers) await started.close();
        await securePeer.close();
      }
    }));

  test('a factory reset stops every static tunnel', async () => {
    const server = await startServer({}, FAST);
    try {
      const id = await register(server, peer.url);
      const tunnel = await createTunnel(server, id, { tunnel_remote_port: echo.port });
      await waitForStaticTunnel(server, id, tunnel.id, 'online');
      assert.equal((await call(server, 'POST', '/config/factory-reset', {})).status, 200);
      assert.deepEqual((await call(server, 'GET', '/peers')).body, []);
      assert.ok(await isRefused(tunnel.tunnel_local_port));
    } finally {
      await server.close();
    }
  });
});

async function register(server: NetunnelServer, url: string): Promise<number> {
  const answer = await call(server, 'POST', '/peers', { name: `peer-${Math.random().toString(36).slice(2)}`, target_netunnel_url: url });
  assert.equal(answer.status, 200, answer.text);
  return (answer.body as PeerResponse).id;
}

async function createTunnel(server: NetunnelServer, peerId: number, body: Record<string, unknown>): Promise<StaticTunnelResponse> {
  const answer = await call(server, 'POST', `/peers/${peerId}/static_tunnels`, { tunnel_local_port: await freePort(), ...body });
  assert.equal(answer.status, 200, answer.text);
  return answer.body as StaticTunnelResponse;
}
