/**
 * Graceful shutdown on SIGTERM: clients are told, nothing new is accepted, connections already
 * open finish within the grace period (or are cut at its end), the config is saved, exit 0.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeKey } from './support/openssh.js';
import { startClientProcess, startServerProcess } from './support/processes.js';
import type { ClientProcess } from './support/processes.js';
import { connect, echoServer, freePort, howItEnds, isRefused, readAll, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
import { withTempDir } from './support/temp-dir.js';

test('SIGTERM: a connection in flight finishes, new ones are refused, the server exits 0', () =>
  withTempDir(async (dir) => {
    const service = await requestReplyServer((request) => Buffer.from(sha256(request)));
    const path = join(dir, 'server.conf');
    await writeFile(path, JSON.stringify({ max_channels: 50 }));
    const server = await startServerProcess(['-c', path, '--shutdown-grace', '30']);
    const client = await startClientProcess(['-s', server.url, '--remote-port', String(service.port)]);
    try {
      const socket = await connect(client.entrancePort);
      const reply = readAll(socket);
      const first = Buffer.alloc(100_000, 7);
      socket.write(first);

      server.child.kill('SIGTERM');
      await server.waitFor(/SIGTERM received; shutting down/);
      // The client was told its tunnel is gone: it stops accepting (and retries until the server is back).
      await waitUntil(() => isRefused(client.entrancePort), 10_000, 'the entrance closed');

      const rest = Buffer.alloc(50_000, 9);
      socket.end(rest);
      assert.equal((await reply).toString(), sha256(Buffer.concat([first, rest])), 'the connection in flight finished whole');
      assert.equal(await server.exited(), 0);
      assert.equal((JSON.parse(await readFile(path, 'utf8')) as { max_channels: number }).max_channels, 50);
    } finally {
      await client.stop();
      await server.stop();
      await service.close();
    }
  }));

test('SIGTERM: a --no-reconnect client also lets its open connection finish, then exits 0', async () => {
  const service = await requestReplyServer((request) => Buffer.from(sha256(request)));
  const server = await startServerProcess(['--shutdown-grace', '30']);
  const client = await startClientProcess(['-s', server.url, '--no-reconnect', '--remote-port', String(service.port)]);
  try {
    const socket = await connect(client.entrancePort);
    const reply = readAll(socket);
    const first = Buffer.alloc(100_000, 3);
    socket.write(first);
    await new Promise((resolve) => setTimeout(resolve, 200));

    server.child.kill('SIGTERM');
    await client.waitFor(/Tunnel closed \(the server closed the tunnel\); waiting for 1 open connection\(s\) to finish/);
    await waitUntil(() => isRefused(client.entrancePort), 10_000, 'the entrance closed');
    assert.equal(client.child.exitCode, null, 'the client waits for its open connection');

    const rest = Buffer.alloc(50_000, 4);
    socket.end(rest);
    assert.equal((await reply).toString(), sha256(Buffer.concat([first, rest])), 'the connection finished whole');
    assert.equal(await client.exited(), 0);
    assert.equal(await server.exited(), 0);
  } finally {
    await client.stop();
    await server.stop();
    await service.close();
  }
});

test('SIGTERM: a connection still open when the grace period ends is reset, and the server exits 0', async () => {
  const service = await requestReplyServer(() => Buffer.from('never asked'));
  const server = await startServerProcess(['--shutdown-grace', '1']);
  const client = await startClientProcess(['-s', server.url, '--remote-port', String(service.port)]);
  try {
    const socket = await connect(client.entrancePort);
    const ended = howItEnds(socket);
    socket.write('a request that never ends');
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill('SIGTERM');
    assert.equal(await server.exited(), 0);
    assert.match(server.output(), /closing 1 connections still open/);
    assert.equal(await ended, 'ECONNRESET', 'a connection cut short is reset, not ended');
  } finally {
    await client.stop();
    await server.stop();
    await service.close();
  }
});

test('SIGTERM: a frozen client and silent connections to both doors do not hold the exit past the grace', () =>
  withTempDir(async (dir) => {
    const key = makeKey(dir, 'listen_key');
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${key.pub}\n`);
    const sshPort = await freePort();
    const server = await startServerProcess(['--shutdown-grace', '0', '--ssh-port', String(sshPort), '--ssh-authorized-keys', join(dir, 'authorized_keys'), '--ssh-host-key', join(dir, 'host_key')]);
    const echo = await echoServer();
    const sockets: net.Socket[] = [];
    let client: ClientProcess | undefined;
    const patience = new AbortController();
    try {
      await server.waitFor(/SSH front door listening/);
      client = await startClientProcess(['-s', server.url, '--remote-port', String(echo.port)]);
      // Silent, and halfway through a request, on the HTTP port; silent before SSH's banner on the other.
      sockets.push(await connect(server.port), await connect(server.port), await connect(sshPort));
      sockets[1]!.write('POST /channels HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{');
      for (const socket of sockets) socket.on('error', () => {});
      // A machine that hung: its websockets never answer a close.
      client.child.kill('SIGSTOP');
      server.child.kill('SIGTERM');
      // Generous, but well short of the 30 s each of these used to hold it (heartbeat, login grace) or for ever.
      const exit = await Promise.race([server.exited(), sleep(20_000, 'still running 20 s after SIGTERM', { signal: patience.signal })]);
      assert.equal(exit, 0, server.output());
    } finally {
      patience.abort();
      client?.child.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      await echo.close();
      await server.stop();
    }
  }));
