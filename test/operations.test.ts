/**
 * What an operator watches: /metrics through a tunnel's life, /status and `--status`, the
 * auth failure counter, and the log formats.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StatusResponse } from '../common/protocol.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';
import { Traffic } from '../common/traffic.js';
import type { NetunnelServer } from '../server/server.js';
import { call, connectClient, startServer } from './support/in-process.js';
import { startSwitchboard } from './support/openssh.js';
import { CLIENT_BIN, SERVER_BIN, spawnNode, startServerProcess } from './support/processes.js';
import { connect, echoServer, readAll, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** The value of one sample of the Prometheus text, e.g. `netunnel_tunnels{kind="forward"}`. */
async function sample(server: NetunnelServer, name: string, headers: Record<string, string> = {}): Promise<number> {
  const { status, text } = await call(server, 'GET', '/metrics', undefined, headers);
  assert.equal(status, 200, text);
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  assert.ok(line, `${name} in:\n${text}`);
  return Number(line.slice(name.length + 1));
}

describe('metrics and status', () => {
  let server: NetunnelServer;
  let echo: TestServer;
  before(async () => {
    server = await startServer();
    echo = await echoServer();
  });
  after(async () => {
    await server.close();
    await echo.close();
  });

  test('/metrics follows a forward tunnel through its life', async () => {
    const { text, type } = await call(server, 'GET', '/metrics');
    assert.match(type, /^text\/plain/);
    assert.match(text, /# TYPE netunnel_bytes_total counter/);
    assert.match(text, /netunnel_info\{version="[\d.]+"\} 1/);
    assert.equal(await sample(server, 'netunnel_channels'), 0);

    const client = await connectClient(server);
    const tunnel = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
    assert.equal(await sample(server, 'netunnel_channels'), 1);
    assert.equal(await sample(server, 'netunnel_tunnels{kind="forward"}'), 1);

    const before = await sample(server, 'netunnel_connections_total{kind="forward"}');
    const socket = await connect(tunnel.entrance.port);
    socket.write(Buffer.alloc(1000, 1));
    await waitUntil(async () => (await sample(server, 'netunnel_connections{kind="forward"}')) === 1, 10_000, 'a live connection');
    const reply = readAll(socket);
    socket.end(Buffer.alloc(234, 2));
    assert.equal((await reply).length, 1234);
    await waitUntil(async () => (await sample(server, 'netunnel_connections{kind="forward"}')) === 0, 10_000, 'the connection closed');
    assert.equal(await sample(server, 'netunnel_connections_total{kind="forward"}'), before + 1);
    assert.ok((await sample(server, 'netunnel_bytes_total{kind="forward",direction="upstream"}')) >= 1234);
    assert.ok((await sample(server, 'netunnel_bytes_total{kind="forward",direction="downstream"}')) >= 1234);

    await client.closeTunnel(tunnel);
    await waitUntil(async () => (await sample(server, 'netunnel_tunnels{kind="forward"}')) === 0, 10_000, 'the tunnel gone');
    await client.close();
    await waitUntil(async () => (await sample(server, 'netunnel_channels')) === 0, 10_000, 'the channel gone');
  });

  test('/status says what runs: channels, their tunnels, connections', async () => {
    const client = await connectClient(server);
    try {
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      const reverse = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: echo.port, remotePort: 0 });
      const { status, body } = await call(server, 'GET', '/status');
      assert.equal(status, 200);
      const report = body as StatusResponse;
      assert.match(report.version, /^\d+\.\d+\.\d+/);
      assert.equal(report.channels.length, 1);
      assert.deepEqual(report.channels[0]!.tunnels, [
        { id: forward.id, kind: 'forward', target: `127.0.0.1:${echo.port}` },
        { id: reverse.id, kind: 'reverse', target: `127.0.0.1:${reverse.entrance.port}` },
      ]);
      assert.deepEqual(Object.keys(report.connections).sort(), ['forward', 'reverse', 'ssh', 'static']);
      assert.deepEqual(report.peers, []);
      assert.equal(report.ssh_sessions, 0);

      const cli = spawnNode(CLIENT_BIN, ['-s', server.url, '--status']);
      assert.equal(await cli.exited(), 0, cli.output());
      assert.match(cli.output(), new RegExp(`tunnel ${forward.id} forward +127\\.0\\.0\\.1:${echo.port}`));
      assert.match(cli.output(), new RegExp(`tunnel ${reverse.id} reverse +127\\.0\\.0\\.1:${reverse.entrance.port}`));
      const json = spawnNode(CLIENT_BIN, ['-s', server.url, '--status', '--json']);
      assert.equal(await json.exited(), 0);
      assert.equal((JSON.parse(json.output()) as StatusResponse).channels.length, 1);
    } finally {
      await client.close();
    }
  });
});

test('/metrics is behind the auth plugin, and counts the refusals, wrong secrets included', async () => {
  const server = await startServer({}, { auth: new SharedSecretServerAuth({ secret: 'metrics-secret' }) });
  try {
    assert.equal((await call(server, 'GET', '/metrics')).status, 403);
    assert.equal((await call(server, 'GET', '/status')).status, 403);
    const { body } = await call(server, 'POST', '/authenticate', { secret: 'metrics-secret' });
    const headers = { authorization: `Bearer ${(body as { token: string }).token}` };
    assert.equal(await sample(server, 'netunnel_auth_failures_total{door="http"}', headers), 2);
    // A wrong secret at POST /authenticate counts too: guessing shows.
    assert.equal((await call(server, 'POST', '/authenticate', { secret: 'guess' })).status, 403);
    assert.equal(await sample(server, 'netunnel_auth_failures_total{door="http"}', headers), 3);
    // A malformed body refuses nobody's credentials.
    assert.equal((await call(server, 'POST', '/authenticate', { secret: 5 })).status, 400);
    assert.equal(await sample(server, 'netunnel_auth_failures_total{door="http"}', headers), 3);
  } finally {
    await server.close();
  }
});

test('--log-format pretty prints one readable line per record; a bad format is a usage error', async () => {
  const pretty = await startServerProcess(['--log-format', 'pretty']);
  try {
    assert.match(pretty.output(), /^\d\d:\d\d:\d\d\.\d{3} INFO +url=http:\/\/127\.0\.0\.1:\d+ netunnel server listening on/m);
  } finally {
    await pretty.stop();
  }
  const json = await startServerProcess([]);
  try {
    assert.match(json.output(), /^\{"level":30,.*"msg":"netunnel server listening on/m);
  } finally {
    await json.stop();
  }
  const bad = spawnNode(SERVER_BIN, ['--log-format', 'xml']);
  assert.equal(await bad.exited(), 2);
  assert.match(bad.output(), /^netunnel-server: --log-format must be json or pretty, got "xml"\n$/);
});

test('the SSH front door counts its connections, circuits and refused logins', async () => {
  const traffic = new Traffic();
  let refused = 0;
  const board = await startSwitchboard(
    { member: 'ed25519', stranger: 'ed25519' },
    ({ member }) => [`access="listen",access="initiate" ${member!.pub}`],
    { traffic, onAuthFailure: () => refused++ },
  );
  const echo = await echoServer();
  try {
    const listener = board.ssh(board.keys.member!.path, 'gw7', ['-N', '-R', `22:localhost:${echo.port}`]);
    await waitUntil(() => board.resolves('gw7', 22), 15_000, 'the listener to register');
    assert.equal(board.door.connectionCount, 1);
    const w = board.ssh(board.keys.member!.path, 'ops', ['-W', 'gw7:22'], Buffer.from('hello'));
    assert.equal(await w.exited, 0, w.stderr());
    assert.deepEqual({ opened: traffic.opened, up: traffic.upstreamBytes, down: traffic.downstreamBytes }, { opened: 1, up: 5, down: 5 });
    const stranger = board.ssh(board.keys.stranger!.path, 'ops', ['-W', 'gw7:22'], Buffer.alloc(0));
    assert.equal(await stranger.exited, 255);
    await waitUntil(() => refused === 1, 10_000, 'the refused login counted');
    assert.equal(listener.child.exitCode, null);
  } finally {
    await board.close();
    await echo.close();
  }
});
