/**
 * Graceful shutdown on SIGTERM: clients are told, nothing new is accepted, connections already
 * open finish within the grace period (or are cut at its end), the config is saved, exit 0.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { startClientProcess, startServerProcess } from './support/processes.js';
import { connect, howItEnds, isRefused, readAll, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
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
