/**
 * A data websocket that fails in the moment between its `pasten` and its exit being
 * connected (a reset, a killed client, a frame breaking the protocol) costs that one
 * connection, never the process: an error nobody listens for ends a Node process.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type net from 'node:net';
import WebSocket from 'ws';
import { call } from './support/in-process.js';
import { startClientProcess, startServerProcess } from './support/processes.js';
import type { ClientProcess, ServerProcess } from './support/processes.js';
import { connect, listen, randomBytes, readAll, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** A client frame (FIN set) masked with a zero key, so the payload goes as it is. */
function maskedFrame(opcode: number, payload: string): Buffer {
  const data = Buffer.from(payload);
  return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | data.length, 0, 0, 0, 0]), data]);
}

const PASTEN = maskedFrame(0x1, 'pasten');
const EOF = maskedFrame(0x1, 'eof');
const BINARY = maskedFrame(0x2, 'abc');
// Clients must mask: RFC 6455 §5.1 has the server fail the connection.
const UNMASKED_BINARY = Buffer.from([0x82, 0x03, 0x61, 0x62, 0x63]);

/** A data websocket opened by hand, so that its first frames can go in one TCP segment. */
async function rawDataWebSocket(port: number, path: string): Promise<net.Socket> {
  const socket = await connect(port);
  socket.on('error', () => {});
  const key = randomBytes(16).toString('base64');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await once(socket, 'data'))[0]);
  assert.match(head, /^HTTP\/1\.1 101 /);
  return socket;
}

describe('a data websocket failing before its exit is connected', () => {
  let server: ServerProcess;
  let service: TestServer;
  let accepted = 0;

  let named: ClientProcess;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-faults-'));
    await writeFile(join(dir, 'netunnel.conf'), JSON.stringify({ allowed_tunnel_names: { svc: '22' } }));
    server = await startServerProcess(['-c', join(dir, 'netunnel.conf')]);
    service = await listen((socket) => {
      accepted += 1;
      socket.resume();
      socket.on('end', () => socket.end());
    });
    // The same service behind a registry name: an exit that is no TCP socket, opened over a round trip.
    named = await startClientProcess(['-s', server.url, '-r', '--name', 'svc', '--remote-port', '22', '--local-port', String(service.port)]);
  });

  after(async () => {
    await named?.stop();
    await server?.stop();
    await service?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function tunnelPath(features: string[], exit: { address: string; port: number }): Promise<{ path: string; channel: WebSocket }> {
    const { body } = await call(server, 'POST', '/channels', { version: '1.0.12', features });
    const channelId = (body as { channel_id: number }).channel_id;
    const channel = new WebSocket(`${server.url.replace('http', 'ws')}/channels/${channelId}/connect`, { perMessageDeflate: false });
    await once(channel, 'open');
    const created = await call(server, 'POST', `/channels/${channelId}/tunnels`, { exit_address: exit.address, exit_port: exit.port, reverse: false });
    return { path: `/channels/${channelId}/tunnels/${(created.body as { tunnel_id: number }).tunnel_id}/connect`, channel };
  }

  const faults: Array<[string, string[], Buffer]> = [
    ['an unmasked frame right after pasten', [], Buffer.concat([PASTEN, UNMASKED_BINARY])],
    ['an unmasked frame right after pasten, with the extensions', ['half-close', 'websocket-reuse'], Buffer.concat([PASTEN, UNMASKED_BINARY])],
    ['bytes after its own eof (half-close)', ['half-close'], Buffer.concat([PASTEN, BINARY, EOF, BINARY])],
  ];
  const exits: Array<[string, () => { address: string; port: number }]> = [
    ['a TCP exit', () => ({ address: '127.0.0.1', port: service.port })],
    ['a registry exit', () => ({ address: 'svc', port: 22 })],
  ];
  for (const [what, features, frames] of faults) for (const [exitKind, exit] of exits) {
    test(`${what} fails that connection (${exitKind}), and the server keeps serving`, async () => {
      const { path, channel } = await tunnelPath(features, exit());
      try {
        for (let round = 0; round < 5; round++) {
          const ws = await rawDataWebSocket(server.port, path);
          const ended = readAll(ws);
          ws.write(frames);
          await ended;
        }
        assert.equal(server.child.exitCode, null, server.output());
        // The peer's fault, logged as such: not an error of ours with a stack.
        assert.doesNotMatch(server.output(), /"level":50/);
        // The exits that did connect were let go, and the server still carries connections.
        await waitUntil(() => service.sockets.size === 0, 10_000, () => `${service.sockets.size} exits still open`);
        const client = await startClientProcess(['-s', server.url, '--remote-port', String(service.port)]);
        try {
          const before = accepted;
          const user = await connect(client.entrancePort);
          user.end('still here');
          await waitUntil(() => accepted === before + 1, 10_000, 'the next connection at the service');
          user.destroy();
        } finally {
          await client.stop();
        }
      } finally {
        channel.close();
      }
    });
  }
});
