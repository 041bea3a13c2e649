import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex, Readable, Writable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { splice } from '../common/splice.js';
import { holdsOwnReadBuffer } from '../common/next-read-buffer.js';
import { recycleAcceptedReads } from '../common/recycled-reads.js';
import { connectTcp, listenTcp } from '../common/tcp.js';
import { WebSocketStream } from '../common/websocket-stream.js';
import { connect, listen, randomBytes, readAll, sha256, waitUntil } from './support/sockets.js';

const MiB = 1024 * 1024;

/** A server that sends `data` to whoever connects, then ends. */
function sender(data: Buffer) {
  return listen((socket) => {
    socket.end(data);
    socket.resume();
  });
}

/** A near end that keeps every chunk it reads in `received`, and ends when its peer does. */
function collector(received: Buffer[]) {
  return listen((socket) => {
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('end', () => socket.end());
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
  const near = await collector(received);
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

test('an accepted socket given recycled reads carries every byte sent before it was read, and half-close both ways', async () => {
  const data = randomBytes(6 * MiB);
  // Reads all it is sent, then answers with the digest and ends.
  const exit = await listen((socket) => {
    void readAll(socket).then((all) => socket.end(sha256(all)));
  });
  let recycled: boolean | undefined;
  const relays: Promise<unknown>[] = [];
  const entrance = await listenTcp('127.0.0.1', 0, (socket) => {
    // Start late, so that the client's bytes and its EOF wait in the kernel.
    setTimeout(() => {
      recycled = recycleAcceptedReads(socket);
      relays.push(connect(exit.port).then((out) => splice(socket, out)));
    }, 100);
  });
  try {
    const client = await connect((entrance.address() as AddressInfo).port);
    client.end(data);
    const reply = await readAll(client);
    assert.equal(recycled, true);
    assert.equal(reply.toString(), sha256(data));
    const [result] = (await Promise.all(relays)) as Awaited<ReturnType<typeof splice>>[];
    assert.equal(result!.aToB, data.length);
  } finally {
    entrance.close();
    await exit.close();
  }
});

test('an accepted socket already read from keeps Node\'s reads', async () => {
  const seen: boolean[] = [];
  const server = await listen((socket) => {
    socket.once('data', () => {
      seen.push(recycleAcceptedReads(socket));
      socket.end();
    });
  });
  try {
    const client = await connect(server.port);
    client.write('hello');
    await readAll(client);
    assert.deepEqual(seen, [false]);
  } finally {
    await server.close();
  }
});

test('a recycled socket that streamed gives its own read buffer back once it idles, and relays on exactly', async () => {
  let farSide: Socket | undefined;
  const far = await listen((socket) => (farSide = socket));
  const received: Buffer[] = [];
  const near = await collector(received);
  try {
    const socket = await connectTcp('127.0.0.1', far.port, { recycledReads: true });
    const relay = splice(socket, await connect(near.port));
    await waitUntil(() => farSide !== undefined, 5000, 'the far end to accept');
    const sent: Buffer[] = [];
    const length = (chunks: Buffer[]) => chunks.reduce((n, c) => n + c.length, 0);
    const burst = async () => {
      const data = randomBytes(4 * MiB);
      farSide!.write(data);
      sent.push(data);
      await waitUntil(() => length(received) === length(sent), 10_000, 'the burst to arrive');
    };
    // How the kernel cuts a burst into reads decides whether it ends holding a buffer.
    for (let tries = 0; tries < 30 && !holdsOwnReadBuffer(socket); tries++) await burst();
    assert.ok(holdsOwnReadBuffer(socket), 'no burst in 30 left the socket a buffer of its own');
    await waitUntil(() => !holdsOwnReadBuffer(socket), 5000, 'the idle socket to give its buffer back');
    await burst();
    farSide!.once('end', () => farSide!.end());
    farSide!.end();
    const result = await relay;
    assert.equal(result.aToB, length(sent));
    assert.equal(sha256(Buffer.concat(received)), sha256(Buffer.concat(sent)));
  } finally {
    await near.close();
    await far.close();
  }
});
