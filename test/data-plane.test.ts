import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { createInterface } from 'node:readline';
import { connectClient, startServer } from './support/in-process.js';
import { startClientProcess, startServerProcess } from './support/processes.js';
import type { ClientProcess, ServerProcess } from './support/processes.js';
import { connect, echoServer, listen, randomBytes, readAll, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const MiB = 1024 * 1024;
/** What a stalled path may hold: kernel socket buffers on four sockets plus our own bounded queues. */
const MAX_BUFFERED = 48 * MiB;

function rssBytes(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return Number(match![1]) * 1024;
}

/** The digest of `chunk` written again and again, `bytes` in all (a whole number of chunks). */
function digestOfRepeats(chunk: Buffer, bytes: number): string {
  return sha256(Buffer.concat(Array.from({ length: bytes / chunk.length }, () => chunk)));
}

type Direction = 'forward' | 'reverse';

/**
 * Runs `body` with a tunnel to `service` through an in-process server and client (with
 * `heartbeat` on both, if given), then stops all three.
 */
async function throughTunnel(
  direction: Direction,
  service: TestServer,
  body: (entrancePort: number) => Promise<void>,
  heartbeat?: { intervalMs: number; timeoutMs: number },
): Promise<void> {
  const options = heartbeat ? { heartbeat } : {};
  const server = await startServer({}, options);
  const client = await connectClient(server, options);
  try {
    const tunnel =
      direction === 'forward'
        ? await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: service.port })
        : await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: service.port, remotePort: 0 });
    await body(tunnel.entrance.port);
  } finally {
    await client.close();
    await server.close();
    await service.close();
  }
}

/** Writes `chunk` again and again until the socket stops taking it for `quietMs`; returns bytes taken. */
async function writeUntilStalled(socket: net.Socket, chunk: Buffer, limit: number, quietMs = 1500): Promise<number> {
  let written = 0;
  while (written < limit) {
    written += chunk.length;
    if (socket.write(chunk)) continue;
    const drained = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), quietMs);
      socket.once('drain', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    if (!drained) return written;
  }
  return written;
}

describe('data plane under load', () => {
  let server: ServerProcess;
  let echo: TestServer;
  let client: ClientProcess;

  before(async () => {
    server = await startServerProcess();
    echo = await echoServer();
    client = await startClientProcess(['-s', server.url, '--remote-port', String(echo.port)]);
  });
  after(async () => {
    await client.stop();
    await server.stop();
    await echo.close();
  });

  test('300 simultaneous connections through one client all echo their own bytes', async () => {
    const sockets = await Promise.all(Array.from({ length: 300 }, () => connect(client.entrancePort)));
    const results = await Promise.all(
      sockets.map(async (socket) => {
        const payload = randomBytes(16 * 1024);
        const reply = readAll(socket, 60_000);
        socket.write(payload);
        // Hold every connection open until all have written, so they are truly simultaneous.
        return { socket, payload, reply };
      }),
    );
    for (const { socket } of results) socket.end();
    for (const { socket, payload, reply } of results) {
      assert.equal(sha256(await reply), sha256(payload));
      socket.destroy();
    }
  });
});

describe('a slow reader keeps memory bounded', () => {
  test('an exit that stops reading stalls the writer at the entrance; nothing is lost', async (t) => {
    const received: Buffer[] = [];
    let sink!: net.Socket;
    const exit = await listen((socket) => {
      sink = socket;
      socket.pause();
    });
    const server = await startServerProcess();
    const client = await startClientProcess(['-s', server.url, '--remote-port', String(exit.port)]);
    try {
      const writer = await connect(client.entrancePort);
      await waitUntil(() => sink !== undefined, 5000, 'the exit connection');
      const rssBefore = rssBytes(server.child.pid!) + rssBytes(client.child.pid!);
      const chunk = randomBytes(MiB);
      const taken = await writeUntilStalled(writer, chunk, 512 * MiB);
      const growth = rssBytes(server.child.pid!) + rssBytes(client.child.pid!) - rssBefore;
      t.diagnostic(`writer stalled after ${taken / MiB} MiB; tunnel processes grew ${(growth / MiB).toFixed(1)} MiB`);
      assert.ok(taken < MAX_BUFFERED, `the writer was stalled after ${taken / MiB} MiB`);
      assert.ok(growth < 64 * MiB, `the tunnel processes grew by ${growth / MiB} MiB`);

      sink.on('data', (data: Buffer) => received.push(data));
      const ended = new Promise((resolve) => sink.once('end', resolve));
      sink.resume();
      writer.end();
      await ended;
      const all = Buffer.concat(received);
      assert.equal(all.length, taken);
      assert.equal(sha256(all), digestOfRepeats(chunk, taken));
      writer.destroy();
    } finally {
      await client.stop();
      await server.stop();
      await exit.close();
    }
  });

  // The exit's reads are recycled (common/recycled-reads.ts): a chunk the stalled websocket
  // still holds must never be overwritten by the next read, in the server's exits or the client's.
  for (const direction of ['forward', 'reverse'] as const) {
    test(`a user who stops reading at the entrance stalls the service at the exit (${direction})`, async (t) => {
      let taken = 0;
      let stalled!: (bytes: number) => void;
      const stall = new Promise<number>((resolve) => (stalled = resolve));
      const chunk = randomBytes(MiB);
      const flood = await listen((socket) => {
        void writeUntilStalled(socket, chunk, 512 * MiB).then((bytes) => {
          taken = bytes;
          stalled(bytes);
          socket.end();
        });
      });
      const server = await startServerProcess();
      const tunnel = direction === 'reverse' ? ['-r', '--local-port', String(flood.port), '--remote-port', '0'] : ['--remote-port', String(flood.port)];
      const client = await startClientProcess(['-s', server.url, ...tunnel]);
      try {
        const user = await connect(client.entrancePort);
        user.pause();
        await stall;
        t.diagnostic(`service stalled after ${taken / MiB} MiB`);
        assert.ok(taken < MAX_BUFFERED, `the service was stalled after ${taken / MiB} MiB`);
        const all = await readAll(user.resume(), 60_000);
        assert.equal(all.length, taken);
        assert.equal(sha256(all), digestOfRepeats(chunk, taken));
        user.destroy();
      } finally {
        await client.stop();
        await server.stop();
        await flood.close();
      }
    });
  }
});

describe('a reader stalled for many heartbeats loses nothing', () => {
  // Both ends judge every data websocket by this heartbeat: cut off after 500 ms of silence.
  const heartbeat = { intervalMs: 250, timeoutMs: 250 };
  const STALL_MS = 2500;
  const pause = () => new Promise((resolve) => setTimeout(resolve, STALL_MS));

  for (const direction of ['forward', 'reverse'] as const) {
    test(`an exit that stops reading, then resumes, gets every byte and the EOF (${direction})`, async () => {
      let sink: net.Socket | undefined;
      const exit = await listen((socket) => {
        sink = socket;
        socket.pause();
      });
      await throughTunnel(direction, exit, async (entrancePort) => {
        const writer = await connect(entrancePort);
        await waitUntil(() => sink !== undefined, 5000, 'the exit connection');
        const chunk = randomBytes(MiB);
        const taken = await writeUntilStalled(writer, chunk, 512 * MiB);
        writer.end();
        await pause();
        const all = await readAll(sink!.resume(), 60_000);
        assert.equal(all.length, taken);
        assert.equal(sha256(all), digestOfRepeats(chunk, taken));
        writer.destroy();
      }, heartbeat);
    });

    test(`a user who stops reading at the entrance, then resumes, gets every byte and the EOF (${direction})`, async () => {
      let taken = 0;
      const chunk = randomBytes(MiB);
      const flood = await listen((socket) => {
        void writeUntilStalled(socket, chunk, 512 * MiB).then((bytes) => {
          taken = bytes;
          socket.end();
        });
      });
      await throughTunnel(direction, flood, async (entrancePort) => {
        const user = await connect(entrancePort);
        user.pause();
        await waitUntil(() => taken > 0, 30_000, 'the service to stall');
        await pause();
        const all = await readAll(user.resume(), 60_000);
        assert.equal(all.length, taken);
        assert.equal(sha256(all), digestOfRepeats(chunk, taken));
        user.destroy();
      }, heartbeat);
    });
  }
});

/** Prints its port, takes one connection, says 'flowing' after 8 MiB, then 'end' or 'reset'. */
const RECV_UNTIL_END_OR_RESET = `
import socket
listener = socket.create_server(('127.0.0.1', 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
received = 0
try:
    while True:
        data = conn.recv(1 << 16)
        if not data:
            print('end', flush=True)
            break
        received += len(data)
        if received >= 8 << 20 and received - len(data) < 8 << 20:
            print('flowing', flush=True)
except ConnectionResetError:
    print('reset', flush=True)
`;

describe('an abort reaches the far TCP end as a reset, never as a clean EOF', () => {
  /** Resolves with how the socket ended: 'end' (a FIN) or the error's code (a reset is ECONNRESET). */
  const ending = (socket: net.Socket) =>
    new Promise<string>((resolve) => {
      socket.once('end', () => resolve('end'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });

  for (const direction of ['forward', 'reverse'] as const) {
    test(`the service resetting reaches the user as a reset, and the user resetting reaches the service (${direction})`, async () => {
      let service: net.Socket | undefined;
      const exit = await listen((socket) => (service = socket));
      await throughTunnel(direction, exit, async (entrancePort) => {
        for (const resetBy of ['service', 'user'] as const) {
          service = undefined;
          const user = await connect(entrancePort);
          user.write('hello');
          await waitUntil(() => service !== undefined, 5000, 'the exit connection');
          const [resetter, peer] = resetBy === 'service' ? [service!, user] : [user, service!];
          const ended = ending(peer);
          resetter.resetAndDestroy();
          assert.equal(await ended, 'ECONNRESET', `the ${resetBy}'s reset`);
          user.destroy();
        }
      });
    });
  }

  test('the client process killed mid-transfer reaches the service at the exit as a reset', async () => {
    // The service is a plain recv() loop, not Node: libuv takes POLLHUP after a short read as
    // the end of the stream, so a Node reader sees a reset that arrives behind unread bytes as
    // a clean EOF (in this very test, about one run in twenty). recv() reports the reset.
    const service = spawn('python3', ['-c', RECV_UNTIL_END_OR_RESET], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: service.stdout! })[Symbol.asyncIterator]();
    const next = async () => String((await lines.next()).value);
    const server = await startServerProcess();
    try {
      const port = Number(await next());
      const client = await startClientProcess(['-s', server.url, '--no-reconnect', '--remote-port', String(port)]);
      try {
        const user = await connect(client.entrancePort);
        user.on('error', () => {});
        const chunk = randomBytes(MiB);
        const pump = () => {
          while (user.write(chunk));
        };
        user.on('drain', pump);
        pump();
        assert.equal(await next(), 'flowing');
        client.child.kill('SIGKILL');
        assert.equal(await next(), 'reset');
        user.destroy();
      } finally {
        await client.stop();
      }
    } finally {
      service.kill();
      await server.stop();
    }
  });
});
