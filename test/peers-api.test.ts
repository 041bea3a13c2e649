/**
 * The /peers REST API (netunnel-wire.md §2.2, §5), the original suite's flow and the
 * original's refusals we fix, against two real servers on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PeerResponse, StaticTunnelResponse } from '../common/protocol.js';
import type { NetunnelServer } from '../server/server.js';
import { call, startServer } from './support/in-process.js';
import { waitForStaticTunnel } from './support/static-tunnels.js';
import { echoServer, exchange, freePort, isRefused, listen, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const FAST = { staticTunnels: { backoff: { initialMs: 100, maxMs: 500 }, healthIntervalMs: 60_000 } };

describe('peers REST API', () => {
  let server: NetunnelServer;
  let peer: NetunnelServer;
  let echo: TestServer;

  before(async () => {
    peer = await startServer();
    server = await startServer({}, FAST);
    echo = await echoServer();
  });
  after(async () => {
    await server.close();
    await peer.close();
    await echo.close();
  });

  test('the original flow: register, duplicate, get by id and name, rename, failed update, static tunnels', async () => {
    assert.deepEqual((await call(server, 'GET', '/peers')).body, []);

    const registered = await call(server, 'POST', '/peers', { name: 'p1', target_netunnel_url: peer.url, auth_data: {} });
    assert.equal(registered.status, 200, registered.text);
    const created = registered.body as PeerResponse;
    assert.deepEqual(created, { id: 1, name: 'p1', target_netunnel_url: peer.url, auth_data: {}, static_tunnels: [] });

    const duplicate = await call(server, 'POST', '/peers', { name: 'p1', target_netunnel_url: peer.url });
    assert.equal(duplicate.status, 409);
    assert.match((duplicate.body as { error: string }).error, /Peer `p1` already exists/);

    assert.deepEqual((await call(server, 'GET', '/peers/1')).body, created);
    assert.deepEqual((await call(server, 'GET', '/peers?name=p1')).body, [created]);
    assert.deepEqual((await call(server, 'GET', '/peers?name=nobody')).body, []);
    const missing = await call(server, 'GET', '/peers/7');
    assert.equal(missing.status, 404);
    assert.match((missing.body as { error: string }).error, /Peer `7` was not found/);

    const renamed = await call(server, 'POST', '/peers/1', { name: 'p2' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal((renamed.body as PeerResponse).name, 'p2');

    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    const failed = await call(server, 'POST', '/peers/1', { target_netunnel_url: deadUrl });
    assert.equal(failed.status, 502);
    assert.match((failed.body as { error: string }).error, /Failed to connect with peer `p2`/);
    assert.equal(((await call(server, 'GET', '/peers/1')).body as PeerResponse).target_netunnel_url, peer.url, 'a failed update changes nothing');

    const tunnelCreated = await call(server, 'POST', '/peers/1/static_tunnels', { tunnel_remote_port: echo.port });
    assert.equal(tunnelCreated.status, 200, tunnelCreated.text);
    const tunnel = tunnelCreated.body as StaticTunnelResponse;
    assert.equal(tunnel.id, 1);
    assert.equal(tunnel.tunnel_local_address, '127.0.0.1');
    assert.equal(tunnel.tunnel_remote_address, '127.0.0.1');
    assert.ok(tunnel.tunnel_local_port >= 20000 && tunnel.tunnel_local_port < 21000, `port ${tunnel.tunnel_local_port} in the static range`);
    assert.ok(['connecting', 'online'].includes(tunnel.state));

    await waitForStaticTunnel(server, 1, 1, 'online');
    assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('through the peer')), Buffer.from('through the peer'));
    assert.equal(((await call(server, 'GET', '/peers/1/static_tunnels')).body as StaticTunnelResponse[]).length, 1);
    assert.equal(((await call(server, 'GET', '/peers/1')).body as PeerResponse).static_tunnels[0]!.state, 'online');

    const noTunnel = await call(server, 'GET', '/peers/1/static_tunnels/9');
    assert.equal(noTunnel.status, 404);
    assert.match((noTunnel.body as { error: string }).error, /No static tunnel by id `9` on `p2`/);

    const deleted = await call(server, 'DELETE', '/peers/1/static_tunnels/1');
    assert.equal(deleted.status, 200);
    assert.equal(deleted.text, '');
    assert.ok(await isRefused(tunnel.tunnel_local_port), 'a deleted static tunnel closes its port');
    assert.deepEqual((await call(server, 'GET', '/peers/1/static_tunnels')).body, []);

    assert.equal((await call(server, 'DELETE', '/peers/1')).status, 200);
    assert.equal((await call(server, 'GET', '/peers/1')).status, 404);
    assert.equal((await call(server, 'DELETE', '/peers/1')).status, 404);
  });

  test('accepts what the original wrongly refuses: single-label hosts, IPv6, host names, null auth_data', async () => {
    const single = await call(server, 'POST', '/peers', { name: 'single', target_netunnel_url: 'http://localhost:1', auth_data: null });
    // localhost:1 is not listening: the URL passed validation and the session failed.
    assert.equal(single.status, 502, single.text);
    const v6 = await call(server, 'POST', '/peers', { name: 'v6', target_netunnel_url: `http://[::1]:${await freePort()}` });
    assert.equal(v6.status, 502, v6.text);

    const registered = await call(server, 'POST', '/peers', { name: 'named', target_netunnel_url: peer.url.replace('127.0.0.1', 'localhost'), auth_data: null });
    assert.equal(registered.status, 200, registered.text);
    const { id } = registered.body as PeerResponse;
    const byName = await call(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_address: 'localhost', tunnel_remote_port: echo.port, tunnel_local_port: await freePort() });
    assert.equal(byName.status, 200, byName.text);
    const v6Exit = await call(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_address: '::1', tunnel_remote_port: 22, tunnel_local_address: '::1', tunnel_local_port: await freePort() });
    assert.equal(v6Exit.status, 200, v6Exit.text);
    assert.equal((await call(server, 'DELETE', `/peers/${id}`)).status, 200);
  });

  test('static tunnels given at registration start with the peer; a new URL restarts them through it', async () => {
    const localPort = await freePort();
    const answer = await call(server, 'POST', '/peers', {
      name: 'inline',
      target_netunnel_url: peer.url,
      static_tunnels: [{ tunnel_remote_port: echo.port, tunnel_local_port: localPort }],
    });
    assert.equal(answer.status, 200, answer.text);
    const { id, static_tunnels: [tunnel] } = answer.body as PeerResponse;
    assert.equal(tunnel!.tunnel_local_port, localPort);
    await waitForStaticTunnel(server, id, tunnel!.id, 'online');

    const second = await startServer();
    try {
      const moved = await call(server, 'POST', `/peers/${id}`, { target_netunnel_url: second.url });
      assert.equal(moved.status, 200, moved.text);
      await waitForStaticTunnel(server, id, tunnel!.id, 'online');
      // The tunnel now leaves from the second server: the first one's channels are gone.
      await waitUntil(() => second.channels.size === 1, 10_000, 'a channel on the new peer');
      assert.deepEqual(await exchange(localPort, Buffer.from('moved')), Buffer.from('moved'));
    } finally {
      assert.equal((await call(server, 'DELETE', `/peers/${id}`)).status, 200);
      await second.close();
    }
  });

  test('several static tunnels given at registration each get a port of their own', async () => {
    const answer = await call(server, 'POST', '/peers', {
      name: 'several',
      target_netunnel_url: peer.url,
      static_tunnels: [{ tunnel_remote_port: echo.port }, { tunnel_remote_port: echo.port }],
    });
    assert.equal(answer.status, 200, answer.text);
    const { id, static_tunnels: tunnels } = answer.body as PeerResponse;
    try {
      assert.notEqual(tunnels[0]!.tunnel_local_port, tunnels[1]!.tunnel_local_port);
      for (const tunnel of tunnels) {
        await waitForStaticTunnel(server, id, tunnel.id, 'online');
        assert.deepEqual(await exchange(tunnel.tunnel_local_port, Buffer.from('each')), Buffer.from('each'));
      }
    } finally {
      assert.equal((await call(server, 'DELETE', `/peers/${id}`)).status, 200);
    }
    const port = await freePort();
    const clash = await call(server, 'POST', '/peers', {
      name: 'clash',
      target_netunnel_url: peer.url,
      static_tunnels: [{ tunnel_remote_port: 22, tunnel_local_port: port }, { tunnel_remote_port: 23, tunnel_local_port: port }],
    });
    assert.equal(clash.status, 409, clash.text);
    assert.match((clash.body as { error: string }).error, new RegExp(`port ${port} is already used by another static tunnel`));
    assert.deepEqual((await call(server, 'GET', '/peers?name=clash')).body, []);
  });

  test('bad input is a 400 naming the field; conflicts are 409', async () => {
    const cases: [unknown, RegExp][] = [
      [{ target_netunnel_url: peer.url }, /missing 'name'/],
      [{ name: 'x' }, /missing 'target_netunnel_url'/],
      [{ name: 'x', target_netunnel_url: peer.url, bogus: 1 }, /unknown field 'bogus'/],
      [{ name: 'x', target_netunnel_url: 'not a url' }, /target_netunnel_url is not a valid URL/],
      [{ name: 'x', target_netunnel_url: 'ftp://example.org' }, /http:\/\/ or https:\/\//],
      [{ name: 'x', target_netunnel_url: peer.url, auth_data: 'secret' }, /auth_data/],
      [{ name: 'x', target_netunnel_url: `${peer.url}?x=1` }, /must not have a query or fragment/],
      [{ name: 'x', target_netunnel_url: `${peer.url}/#f` }, /must not have a query or fragment/],
    ];
    for (const [body, message] of cases) {
      const answer = await call(server, 'POST', '/peers', body);
      assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${answer.text}`);
      assert.match((answer.body as { error: string }).error, message);
    }
    const { id } = (await call(server, 'POST', '/peers', { name: 'v', target_netunnel_url: peer.url })).body as PeerResponse;
    const tunnelCases: [unknown, RegExp, number][] = [
      [{}, /missing 'tunnel_remote_port'/, 400],
      [{ tunnel_remote_port: 70000 }, /tunnel_remote_port/, 400],
      [{ tunnel_remote_port: 22, id: 3 }, /unknown field 'id'/, 400],
      [{ tunnel_remote_port: 22, tunnel_local_address: '10.1.2.3' }, /not allowed as a tunnel entrance/, 403],
    ];
    for (const [body, message, status] of tunnelCases) {
      const answer = await call(server, 'POST', `/peers/${id}/static_tunnels`, body);
      assert.equal(answer.status, status, `${JSON.stringify(body)}: ${answer.text}`);
      assert.match((answer.body as { error: string }).error, message);
    }
    const busy = await listen(() => {});
    const taken = await call(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_port: 22, tunnel_local_port: busy.port });
    assert.equal(taken.status, 409, taken.text);
    assert.match((taken.body as { error: string }).error, /address already in use/);
    await busy.close();
    assert.equal((await call(server, 'POST', '/peers', { name: 'w', target_netunnel_url: peer.url })).status, 200);
    const clash = await call(server, 'POST', `/peers/${id}`, { name: 'w' });
    assert.equal(clash.status, 409);
    assert.equal((await call(server, 'GET', '/peers/abc')).status, 400);
  });
});
