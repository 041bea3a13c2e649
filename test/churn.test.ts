/**
 * Clients that die without a word (SIGKILL) in the middle of transfers, round after round,
 * netunnel clients and OpenSSH alike: the server must end up holding nothing of them, no
 * socket, no timer, no registered name, no gauge above zero.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import { startServer } from './support/in-process.js';
import { startSwitchboard } from './support/openssh.js';
import type { SshProcess } from './support/openssh.js';
import { startClientProcess } from './support/processes.js';
import type { ClientProcess } from './support/processes.js';
import { connect, echoServer, howItEnds, randomBytes, waitUntil } from './support/sockets.js';

/** This process's open resources of the kinds a leak leaves: sockets, listeners, timers. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = { TCPSocketWrap: 0, TCPServerWrap: 0, Timeout: 0 };
  for (const name of process.getActiveResourcesInfo()) if (name in counts) counts[name]!++;
  return counts;
}

function atMost(now: Record<string, number>, baseline: Record<string, number>): boolean {
  return Object.keys(baseline).every((name) => now[name]! <= baseline[name]!);
}

const ROUNDS = 3;
const CONNECTIONS = 6;

test('clients killed mid-transfer, round after round, leave the server holding nothing', async () => {
  const server = await startServer();
  const echo = await echoServer();
  const baseline = resources();
  const clients: ClientProcess[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const forward = await startClientProcess(['-s', server.url, '--remote-port', String(echo.port)]);
      const reverse = await startClientProcess(['-s', server.url, '-r', '--local-port', String(echo.port), '--remote-port', '0']);
      clients.push(forward, reverse);
      const users: net.Socket[] = [];
      for (const port of [forward.entrancePort, reverse.entrancePort]) {
        for (let i = 0; i < CONNECTIONS; i++) users.push(await connect(port));
      }
      // The server holds the reverse tunnel's users: for them the loss must be a reset. (The
      // kernel closes the killed forward client's own sockets, with a FIN if nothing is unread.)
      const endings = users.map((socket) => howItEnds(socket));
      const serversUsers = endings.slice(CONNECTIONS);
      let echoed = 0;
      for (const socket of users) {
        socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
        socket.write(randomBytes(256 * 1024));
      }
      await waitUntil(() => echoed > 0, 15_000, 'echoes flowing');

      await Promise.all([forward.stop('SIGKILL'), reverse.stop('SIGKILL')]);
      for (const ending of await Promise.all(serversUsers)) assert.equal(ending, 'ECONNRESET', 'a connection cut short is reset');
      for (const socket of users) socket.destroy();
    }

    await waitUntil(() => server.status().channels.length === 0, 15_000, 'every channel released');
    const live = () => Object.values(server.status().connections).reduce((sum, kind) => sum + kind.live, 0);
    await waitUntil(() => live() === 0 && echo.sockets.size === 0, 15_000, 'no connection left open');
    await waitUntil(() => atMost(resources(), baseline), 15_000, () => `resources back to ${JSON.stringify(baseline)} (now ${JSON.stringify(resources())})`);
    assert.equal(server.registry.list().length, 0);
  } finally {
    for (const client of clients) await client.stop('SIGKILL');
    await server.close();
    await echo.close();
  }
});

test('OpenSSH listeners and initiators killed mid-circuit, round after round, leave the front door holding nothing', async () => {
  const board = await startSwitchboard({ listen_key: 'ed25519', init_key: 'ed25519' }, (keys) => [
    `access="listen" ${keys.listen_key!.pub}`,
    `access="initiate" ${keys.init_key!.pub}`,
  ]);
  const echo = await echoServer();
  const baseline = resources();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const listener = board.ssh(board.keys.listen_key!.path, 'gw', ['-N', '-R', `22:localhost:${echo.port}`]);
      await waitUntil(() => board.resolves('gw', 22) || listener.child.exitCode !== null, 15_000, 'the listener to register');
      const initiators: SshProcess[] = [];
      for (let i = 0; i < CONNECTIONS; i++) {
        const initiator = board.ssh(board.keys.init_key!.path, 'ops', ['-W', 'gw:22']);
        initiator.child.stdin!.write(randomBytes(256 * 1024));
        initiators.push(initiator);
      }
      await waitUntil(() => initiators.every((p) => p.stdout().length > 0), 30_000, () => `echoes on every circuit: ${initiators.map((p) => p.stderr()).join('')}`);

      // Either end may go first.
      const ends = round % 2 === 0 ? [[listener], initiators] : [initiators, [listener]];
      for (const group of ends) await Promise.all(group.map((p) => (p.child.kill('SIGKILL'), p.exited)));
      // Also what lets the next round start clean: a killed listener stays registered until
      // its socket's end is read, and an initiator sent then is (rightly) refused.
      await waitUntil(() => board.door.connectionCount === 0 && !board.resolves('gw', 22), 15_000, 'every SSH connection and name released');
    }

    await waitUntil(() => echo.sockets.size === 0, 15_000, 'no connection left open to the service');
    await waitUntil(() => atMost(resources(), baseline), 15_000, () => `resources back to ${JSON.stringify(baseline)} (now ${JSON.stringify(resources())})`);
  } finally {
    await board.close();
    await echo.close();
  }
});
