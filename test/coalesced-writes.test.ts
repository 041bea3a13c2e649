import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { setImmediate } from 'node:timers/promises';
import { coalesceWrites } from '../server/ssh/coalesced-writes.js';
import { connect, listen, randomBytes, readAll, sha256, waitUntil } from './support/sockets.js';

/** Counts the calls that each become one syscall: `_write` for one chunk, `_writev` for many. */
function countFlushes(socket: Socket): { write: number; writev: number[] } {
  const counts = { write: 0, writev: [] as number[] };
  const internals = socket as unknown as { _write: (...args: unknown[]) => void; _writev: (chunks: unknown[], ...rest: unknown[]) => void };
  const write = internals._write;
  const writev = internals._writev;
  internals._write = function (this: Socket, ...args: unknown[]) {
    counts.write += 1;
    return write.apply(this, args);
  };
  internals._writev = function (this: Socket, chunks: unknown[], ...rest: unknown[]) {
    counts.writev.push(chunks.length);
    return writev.call(this, chunks, ...rest);
  };
  return counts;
}

async function withPeer(run: (socket: Socket, received: Promise<Buffer>) => Promise<void>): Promise<void> {
  let received: Promise<Buffer> | undefined;
  const peer = await listen((socket) => {
    received = readAll(socket);
  });
  try {
    const socket = await connect(peer.port);
    socket.setNoDelay(true);
    await waitUntil(() => received !== undefined, 15_000, 'the peer to accept');
    await run(socket, received!);
  } finally {
    await peer.close();
  }
}

test('writes made within one tick leave as one writev, and the bytes arrive whole and in order', async () => {
  await withPeer(async (socket, received) => {
    coalesceWrites(socket);
    const flushes = countFlushes(socket);
    const chunks = Array.from({ length: 5 }, (_, i) => randomBytes(1000 + i * 7919));
    for (const chunk of chunks) socket.write(chunk);
    assert.equal(socket.writableCorked, 1, 'the writes wait for the end of the tick');
    await setImmediate();
    assert.deepEqual(flushes, { write: 0, writev: [5] });

    // The next tick's writes are a batch of their own; a lone write is a plain write.
    const later = randomBytes(3000);
    socket.write(later);
    await setImmediate();
    assert.deepEqual(flushes, { write: 1, writev: [5] });

    socket.end();
    assert.equal(sha256(await received), sha256(Buffer.concat([...chunks, later])));
  });
});

test('end() in the same tick as the writes flushes them at once and still sends EOF', async () => {
  await withPeer(async (socket, received) => {
    coalesceWrites(socket);
    const data = [randomBytes(500), randomBytes(700)];
    socket.write(data[0]);
    socket.end(data[1]);
    assert.equal(sha256(await received), sha256(Buffer.concat(data)));
    await setImmediate();
    assert.equal(socket.writableCorked, 0);
  });
});

test('without coalescing each write is a syscall of its own (what the wrapper saves)', async () => {
  await withPeer(async (socket, received) => {
    const flushes = countFlushes(socket);
    for (let i = 0; i < 3; i += 1) socket.write(randomBytes(100));
    await setImmediate();
    assert.equal(flushes.write + flushes.writev.length > 1, true, `flushes: ${JSON.stringify(flushes)}`);
    socket.end();
    assert.equal((await received).length, 300);
  });
});
