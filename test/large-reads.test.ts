import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { setTimeout } from 'node:timers/promises';
import { connectWithLargeReads, useLargeReads } from '../common/large-reads.js';
import { holdsOwnReadBuffer } from '../common/next-read-buffer.js';
import { randomBytes, sha256, waitUntil } from './support/sockets.js';

const KiB = 1024;

/** A pair of loopback sockets: `accepted` got useLargeReads, `connected` is plain. */
async function acceptedPair(): Promise<{ accepted: net.Socket; connected: net.Socket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const connected = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(server, 'connection')) as [net.Socket];
  assert.equal(useLargeReads(accepted), true, 'this Node lets an accepted socket read into our buffers');
  return { accepted, connected, close: () => (accepted.destroy(), connected.destroy(), server.close()) };
}

/** Sends `data` while `reader` is paused (so it piles up in the kernel), then reads all of it. */
async function readBacklog(reader: net.Socket, writer: net.Socket, data: Buffer): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  reader.on('data', (chunk: Buffer) => chunks.push(chunk));
  reader.pause();
  writer.end(data);
  await setTimeout(200);
  reader.resume();
  await once(reader, 'end');
  return chunks;
}

test('an accepted socket with large reads gets reads beyond 64 KiB, and every byte in order', async () => {
  const pair = await acceptedPair();
  try {
    const data = randomBytes(2048 * KiB);
    const chunks = await readBacklog(pair.accepted, pair.connected, data);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data));
    assert.ok(Math.max(...chunks.map((c) => c.length)) > 64 * KiB, `largest read: ${Math.max(...chunks.map((c) => c.length))}`);
  } finally {
    pair.close();
  }
});

test('a quiet socket hands out small copies, never views of a large buffer', async () => {
  const pair = await acceptedPair();
  try {
    pair.accepted.resume();
    const arrived = once(pair.accepted, 'data') as Promise<[Buffer]>;
    pair.connected.write('hello');
    const [chunk] = await arrived;
    assert.equal(chunk.toString(), 'hello');
    assert.equal(chunk.buffer.byteLength, chunk.length, `a 5-byte read pins ${chunk.buffer.byteLength} bytes`);
  } finally {
    pair.close();
  }
});

test('a connected socket with large reads gets reads beyond 64 KiB, every byte, and EOF', async () => {
  const server = net.createServer({ pauseOnConnect: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const socket = connectWithLargeReads({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  try {
    const [accepted] = (await once(server, 'connection')) as [net.Socket];
    const data = randomBytes(2048 * KiB);
    const chunks = await readBacklog(socket, accepted, data);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data));
    assert.ok(Math.max(...chunks.map((c) => c.length)) > 64 * KiB, `largest read: ${Math.max(...chunks.map((c) => c.length))}`);
  } finally {
    socket.destroy();
    server.close();
  }
});

/** Reads exactly `length` bytes from a flowing socket, in the chunks its reads made. */
async function readExactly(socket: net.Socket, length: number): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  let got = 0;
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      got += chunk.length;
      if (got < length) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  return chunks;
}

/**
 * Sends bursts until one ends in a long read (the socket streamed to its last read), each
 * checked byte for byte; how a burst is cut into reads is the kernel's business.
 */
async function burstEndingStreaming(pair: { accepted: net.Socket; connected: net.Socket }): Promise<void> {
  for (let tries = 0; tries < 30; tries++) {
    const data = randomBytes(2048 * KiB);
    pair.accepted.pause();
    pair.connected.write(data);
    await setTimeout(20);
    pair.accepted.resume();
    const chunks = await readExactly(pair.accepted, data.length);
    assert.equal(sha256(Buffer.concat(chunks)), sha256(data));
    if (chunks.at(-1)!.length >= 64 * KiB) return;
  }
  throw new Error('no burst in 30 ended in a long read');
}

test('a socket that streamed gives its own read buffer back once it idles, and reads on exactly', async () => {
  const pair = await acceptedPair();
  try {
    for (let round = 0; round < 2; round++) {
      await burstEndingStreaming(pair);
      assert.ok(holdsOwnReadBuffer(pair.accepted), 'streaming left the socket a buffer of its own for its next read');
      await waitUntil(() => !holdsOwnReadBuffer(pair.accepted), 5000, 'the idle socket to give its buffer back');
    }
    const quiet = once(pair.accepted, 'data') as Promise<[Buffer]>;
    pair.connected.write('hello');
    assert.equal((await quiet)[0].toString(), 'hello', 'a read into the shared buffer again');
  } finally {
    pair.close();
  }
});
