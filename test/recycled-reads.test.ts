import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { splice } from '../common/splice.js';
import { connectTcp } from '../common/tcp.js';
import { WebSocketStream } from '../common/websocket-stream.js';
import { connect, listen, randomBytes, readAll, sha256 } from './support/sockets.js';

const MiB = 1024 * 1024;

/** A server that sends `data` to whoever connects, then ends. */
function sender(data: Buffer) {
  return listen((socket) => {
    socket.end(data);
    socket.resume();
  });
}

test('a writer that keeps the chunks it was given gets copies, not views of the recycled buffer', async () => {
  const data = randomBytes(8 * MiB);
  const far = await sender(data);
  try {
    const socket = await connectTcp('127.0.0.1', far.port, { recycledReads: true });
    // Keeps every chunk and says done at once, as a PassThrough or an SSH channel may.
    const kept: Buffer[] = [];
    const keeper = Duplex.from({
      writable: new Writable({ write: (chunk: Buffer, _encoding, done) => (kept.push(chunk), done()) }),
      readable: Readable.from([]),
    });
    const result = await splice(socket, keeper);
    assert.equal(result.aToB, data.length);
    assert.equal(sha256(Buffer.concat(kept)), sha256(data));
  } finally {
    await far.close();
  }
});

test('a recycled socket that starts reading late loses nothing the far end sent first', async () => {
  const data = randomBytes(3 * MiB);
  const far = await sender(data);
  const received: Buffer[] = [];
  const near = await listen((socket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('end', () => socket.end());
  });
  try {
    const socket = await connectTcp('127.0.0.1', far.port, { recycledReads: true });
    // The far end's bytes wait in the kernel while nothing reads them.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const out = await connect(near.port);
    const result = await splice(socket, out);
    assert.equal(result.aToB, data.length);
    assert.equal(sha256(Buffer.concat(received)), sha256(data));
  } finally {
    await near.close();
    await far.close();
  }
});

test('a data websocket write the kernel took at once is done at once; one it had to queue is not', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  // The peer reads nothing, so the socket's buffers fill and writes start to queue.
  wss.on('connection', (_remote, request) => request.socket.pause());
  const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate: false });
  try {
    await once(ws, 'open');
    const stream = new WebSocketStream(ws, { halfClose: true });
    stream.write(Buffer.alloc(1024));
    assert.equal(stream.writableLength, 0);
    const chunk = Buffer.alloc(64 * 1024);
    let writes = 0;
    while (stream.writableLength === 0 && writes < 2000) {
      stream.write(chunk);
      writes++;
    }
    assert.ok(stream.writableLength > 0, `${writes} writes of 64 KiB all done at once`);
    stream.destroy();
  } finally {
    ws.terminate();
    for (const client of wss.clients) client.terminate();
    wss.close();
  }
});

/** Sends `data` a little at a time, yielding between pieces, so that each read finds little. */
async function trickle(socket: Socket, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; offset += 8000) {
    if (!socket.write(data.subarray(offset, offset + 8000))) await once(socket, 'drain');
    else await setImmediate();
  }
  socket.end();
}

test('recycled sockets reading little at a time into the shared buffer, to writers that queue, keep every byte', async () => {
  const CONNECTIONS = 4;
  const PAYLOAD = 8 * MiB;
  const payloads = Array.from({ length: CONNECTIONS }, (_, i) => {
    const payload = randomBytes(PAYLOAD);
    payload.writeUInt32BE(i, 0);
    return payload;
  });
  let next = 0;
  const far = await listen((socket) => {
    socket.resume();
    void trickle(socket, payloads[next++]!);
  });
  const received = new Map<number, Buffer>();
  // Reads nothing at first (a socket not read stays paused), so the relay's writes queue
  // while its sockets still read little.
  const near = await listen((socket) => {
    setTimeout(() => {
      void readAll(socket).then((all) => {
        received.set(all.readUInt32BE(0), all);
        socket.end();
      });
    }, 300);
  });
  try {
    const relays = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const socket = await connectTcp('127.0.0.1', far.port, { recycledReads: true });
      relays.push(splice(socket, await connect(near.port)));
    }
    const results = await Promise.all(relays);
    for (const result of results) assert.equal(result.aToB, PAYLOAD);
    for (let i = 0; i < CONNECTIONS; i++) {
      assert.equal(sha256(received.get(i) ?? Buffer.alloc(0)), sha256(payloads[i]!), `connection ${i}`);
    }
  } finally {
    await near.close();
    await far.close();
  }
});
