import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { needsRandomMask } from '../client/websocket-connect.js';
import { connectClient, startServer } from './support/in-process.js';
import { echoServer, exchange, listen, randomBytes } from './support/sockets.js';

/** A relay in front of `port` that keeps what every client sent, one buffer list a connection. */
async function recordingRelay(port: number) {
  const sent: Buffer[][] = [];
  const relay = await listen((socket) => {
    const chunks: Buffer[] = [];
    sent.push(chunks);
    const upstream = net.connect(port, '127.0.0.1');
    upstream.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.pipe(upstream).pipe(socket);
    socket.once('close', () => upstream.destroy());
  });
  return { relay, sent };
}

/** The masking keys of every frame a client sent after its upgrade request. */
function maskingKeys(stream: Buffer): Buffer[] {
  const head = stream.indexOf('\r\n\r\n');
  if (!/^GET [^\r]*\r\n[\s\S]*upgrade: websocket/i.test(stream.subarray(0, head).toString('latin1'))) return [];
  const keys: Buffer[] = [];
  let at = head + 4;
  while (at + 2 <= stream.length) {
    assert.ok(stream[at + 1]! & 0x80, 'a client frame without the MASK bit');
    let length = stream[at + 1]! & 0x7f;
    at += 2;
    if (length === 126) {
      length = stream.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(at));
      at += 8;
    }
    keys.push(stream.subarray(at, at + 4));
    at += 4 + length;
  }
  return keys;
}

async function keysSentThroughTunnel(alwaysMask: boolean): Promise<Buffer[]> {
  const echo = await echoServer();
  const server = await startServer();
  const { relay, sent } = await recordingRelay(Number(new URL(server.url).port));
  const client = await connectClient(server, { serverUrl: `http://127.0.0.1:${relay.port}`, alwaysMask });
  try {
    const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
    const payload = randomBytes(300_000);
    assert.ok((await exchange(forward.entrance.port, payload)).equals(payload));
  } finally {
    await client.close();
    await relay.close();
    await server.close();
    await echo.close();
  }
  return sent.flatMap((chunks) => maskingKeys(Buffer.concat(chunks)));
}

const isZero = (key: Buffer) => key.equals(Buffer.alloc(4));

test('frames to a server on this host carry the all-zero key, and the bytes still arrive', async () => {
  const keys = await keysSentThroughTunnel(false);
  // The channel's frames and the data websocket's: tunnel setup, the payload, the closing handshake.
  assert.ok(keys.length >= 5, `only ${keys.length} frames seen`);
  assert.ok(keys.every(isZero));
});

test('alwaysMask gives every frame a random key', async () => {
  const keys = await keysSentThroughTunnel(true);
  assert.ok(keys.length >= 5, `only ${keys.length} frames seen`);
  assert.ok(!keys.some(isZero));
  assert.ok(new Set(keys.map((key) => key.toString('hex'))).size > keys.length / 2, 'keys repeat');
});

test('a random key wherever something on the way could read the frames', () => {
  const plain = (host: string) => ({ host, secure: false });
  assert.equal(needsRandomMask(plain('10.1.2.3'), {}), true);
  assert.equal(needsRandomMask(plain('tunnel.example.org'), {}), true);
  assert.equal(needsRandomMask(plain('::2'), {}), true);
  // A proxy reaches the server's host across a network, whatever name it is given.
  assert.equal(needsRandomMask(plain('127.0.0.1'), { proxy: { url: 'http://10.0.0.9:3128' } }), true);
  for (const host of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
    assert.equal(needsRandomMask(plain(host), {}), false, host);
    assert.equal(needsRandomMask(plain(host), { alwaysMask: true }), true, host);
  }
  assert.equal(needsRandomMask({ host: 'tunnel.example.org', secure: true }, {}), false);
  assert.equal(needsRandomMask({ host: 'tunnel.example.org', secure: true }, { proxy: { url: 'http://10.0.0.9:3128' } }), false);
  assert.equal(needsRandomMask({ host: 'tunnel.example.org', secure: true }, { alwaysMask: true }), true);
});
