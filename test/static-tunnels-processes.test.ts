/**
 * Static tunnels between two real server processes: data with a hash check, a peer killed
 * and restarted, a server booting while its peer is down, a restart from the config file,
 * and the watchdog restarting a tunnel whose peer froze (SIGSTOP) without dropping the TCP.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PeerResponse, StaticTunnelResponse } from '../common/protocol.js';
import { call } from './support/in-process.js';
import { startServerProcess } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { connect, echoServer, exchange, freePort, howItEnds, isRefused, randomBytes, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';
import { waitForStaticTunnel } from './support/static-tunnels.js';
import { withTempDir } from './support/temp-dir.js';

describe('static tunnels between server processes', () => {
  let echo: TestServer;
  before(async () => {
    echo = await echoServer();
  });
  after(() => echo.close());

  test('register, 16 MiB through, peer killed (offline, port refused) and restarted (online again)', () =>
    withTempDir(async (dir) => {
      let peer = await startServerProcess();
      const server = await startServerProcess(['-c', join(dir, 'server.conf')]);
      try {
        const registered = await api(server, 'POST', '/peers', { name: 'server1', target_netunnel_url: peer.url });
        const { id } = registered as PeerResponse;
        const localPort = await freePort();
        const created = (await api(server, 'POST', `/peers/${id}/static_tunnels`, {
          tunnel_remote_port: echo.port,
          tunnel_local_port: localPort,
        })) as StaticTunnelResponse;
        assert.ok(['connecting', 'online'].includes(created.state), 'creation answers at once with the state');
        await waitForStaticTunnel(server, id, created.id, 'online', { context: server.output });

        const payload = randomBytes(16 * 1024 * 1024);
        assert.equal(sha256(await exchange(localPort, payload, 60_000)), sha256(payload));

        await peer.stop('SIGKILL');
        const offline = await waitForStaticTunnel(server, id, created.id, 'offline', { context: server.output });
        assert.ok(offline.last_error, 'an offline tunnel says why');
        assert.ok(await isRefused(localPort), 'the local port refuses while the peer is down');
        // The log line and the API's answer travel on different pipes: either may come first.
        await server.waitFor(/static tunnel offline/);

        peer = await startServerProcess([], { port: peer.port });
        await waitForStaticTunnel(server, id, created.id, 'online', { context: server.output });
        assert.deepEqual(await exchange(localPort, Buffer.from('back again')), Buffer.from('back again'));
        assert.equal(server.child.exitCode, null, 'the server never exits on a peer fault');

        const saved = JSON.parse(await readFile(join(dir, 'server.conf'), 'utf8')) as { peers: PeerResponse[] };
        assert.equal(saved.peers[0]!.static_tunnels[0]!.tunnel_local_port, localPort);
        assert.equal(saved.peers[0]!.static_tunnels[0]!.state, undefined, 'the live state is not saved');
      } finally {
        await server.stop();
        await peer.stop();
      }
    }));

  test('a server whose peer is down at boot serves its API at once; the tunnel comes up with the peer and after a restart', () =>
    withTempDir(async (dir) => {
      const peerPort = await freePort();
      const localPort = await freePort();
      const path = join(dir, 'server2.conf');
      // As a user writes it by hand (the original's example): no ids, auth_data null.
      const peers = [{ name: 'server1', target_netunnel_url: `http://127.0.0.1:${peerPort}`, auth_data: null, static_tunnels: [{ tunnel_local_port: localPort, tunnel_remote_port: echo.port }] }];
      await writeFile(path, JSON.stringify({ peers }));
      let server = await startServerProcess(['-c', path]);
      let peer: ServerProcess | undefined;
      try {
        assert.match((await api(server, 'GET', '/version')) as string, /^\d+\.\d+\.\d+/);
        const [listed] = (await api(server, 'GET', '/peers')) as PeerResponse[];
        assert.equal(listed!.id, 1);
        assert.notEqual(listed!.static_tunnels[0]!.state, 'online');
        assert.ok(await isRefused(localPort));

        peer = await startServerProcess([], { port: peerPort });
        await waitForStaticTunnel(server, 1, 1, 'online', { context: server.output });
        assert.deepEqual(await exchange(localPort, Buffer.from('late peer')), Buffer.from('late peer'));

        await server.stop();
        assert.ok(await isRefused(localPort), 'a stopped server releases the port');
        server = await startServerProcess(['-c', path]);
        await waitForStaticTunnel(server, 1, 1, 'online', { context: server.output });
        assert.deepEqual(await exchange(localPort, Buffer.from('from the file')), Buffer.from('from the file'));
      } finally {
        await server.stop();
        await peer?.stop();
      }
    }));

  test('the watchdog restarts a tunnel whose peer froze without closing anything', () =>
    withTempDir(async (dir) => {
      const peer = await startServerProcess();
      const path = join(dir, 'server.conf');
      await writeFile(path, JSON.stringify({ static_tunnel_health_check_interval: 0.5 }));
      const server = await startServerProcess(['-c', path]);
      try {
        const { id } = (await api(server, 'POST', '/peers', { name: 'frozen', target_netunnel_url: peer.url })) as PeerResponse;
        const localPort = await freePort();
        await api(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_port: echo.port, tunnel_local_port: localPort });
        await waitForStaticTunnel(server, id, 1, 'online', { context: server.output });

        peer.child.kill('SIGSTOP');
        // Heartbeats would take 30 s to notice; the health check does it within about a second.
        const offline = await waitForStaticTunnel(server, id, 1, 'offline', { timeoutMs: 10_000, context: server.output });
        assert.match(offline.last_error ?? '', /health check/);

        peer.child.kill('SIGCONT');
        await waitForStaticTunnel(server, id, 1, 'online', { context: server.output });
        assert.deepEqual(await exchange(localPort, Buffer.from('thawed')), Buffer.from('thawed'));
      } finally {
        peer.child.kill('SIGCONT');
        await server.stop();
        await peer.stop();
      }
    }));

  test('a peer killed mid-transfer resets the user\'s connection rather than ending it cleanly', () =>
    withTempDir(async (dir) => {
      const peer = await startServerProcess();
      const server = await startServerProcess(['-c', join(dir, 'server.conf')]);
      try {
        const { id } = (await api(server, 'POST', '/peers', { name: 'doomed', target_netunnel_url: peer.url })) as PeerResponse;
        const localPort = await freePort();
        await api(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_port: echo.port, tunnel_local_port: localPort });
        await waitForStaticTunnel(server, id, 1, 'online', { context: server.output });

        const socket = await connect(localPort);
        const ended = howItEnds(socket);
        let echoed = 0;
        socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
        socket.write(randomBytes(64 * 1024));
        await waitUntil(() => echoed > 0, 15_000, 'the first echo');

        await peer.stop('SIGKILL');
        assert.equal(await ended, 'ECONNRESET', 'a cut-short stream must not look like a whole one');
        socket.destroy();
      } finally {
        await server.stop();
        await peer.stop();
      }
    }));

  test('deleting a static tunnel, or its peer, while the peer is frozen answers at once and opens nothing later', () =>
    withTempDir(async (dir) => {
      const peer = await startServerProcess();
      const server = await startServerProcess(['-c', join(dir, 'server.conf')]);
      try {
        const { id } = (await api(server, 'POST', '/peers', { name: 'frozen', target_netunnel_url: peer.url })) as PeerResponse;
        peer.child.kill('SIGSTOP');
        const ports = [await freePort(), await freePort()];
        for (const port of ports) {
          await api(server, 'POST', `/peers/${id}/static_tunnels`, { tunnel_remote_port: echo.port, tunnel_local_port: port });
        }
        // Each attempt now waits on a peer that accepts TCP but never answers (30 s to give up).
        await api(server, 'DELETE', `/peers/${id}/static_tunnels/1`, undefined, 10_000);
        await api(server, 'DELETE', `/peers/${id}`, undefined, 10_000);

        peer.child.kill('SIGCONT');
        // Give a stopped attempt that still went on the time to open its port, then look.
        assert.match((await api(peer, 'GET', '/version')) as string, /^\d/);
        await new Promise((resolve) => setTimeout(resolve, 1000));
        for (const port of ports) assert.ok(await isRefused(port), `port ${port} stays closed`);
        assert.deepEqual(await api(server, 'GET', '/peers'), []);
      } finally {
        peer.child.kill('SIGCONT');
        await server.stop();
        await peer.stop();
      }
    }));
});

/** The answer's body; anything but a 200 within `timeoutMs` fails the test with the server's words. */
async function api(server: ServerProcess, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  const answer = await Promise.race([call(server, method, path, body), late]).finally(() => clearTimeout(timer));
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.text}`);
  return answer.body;
}
