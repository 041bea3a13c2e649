import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NetunnelServer } from '../server/server.js';
import { connectClient, startServer } from './support/in-process.js';
import { connect, echoServer, exchange, listen, randomBytes, readAll, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/**
 * Extension `websocket-reuse`: a data websocket whose connection ended cleanly both ways
 * carries the next connection, so sequential connections cost no websocket handshake.
 */
describe('data websocket reuse', () => {
  let server: NetunnelServer;
  let echo: TestServer;
  let upgrades = 0;
  before(async () => {
    server = await startServer();
    server.app.websocketServer.on('connection', () => upgrades++);
    echo = await echoServer();
  });
  after(async () => {
    await server.close();
    await echo.close();
  });

  /** Lets spares settle, then counts the upgrades `body` causes. */
  async function upgradesDuring(body: () => Promise<void>): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = upgrades;
    await body();
    return upgrades - before;
  }

  async function sequentialExchanges(port: number, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const payload = randomBytes(1 + ((i * 7919) % (96 * 1024)));
      assert.deepEqual(await exchange(port, payload), payload, `connection ${i}`);
    }
  }

  test('sequential connections, forward and reverse, share a few websockets and keep every byte', async () => {
    const client = await connectClient(server);
    try {
      assert.ok(client.features.has('websocket-reuse'));
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      const reverse = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: echo.port });
      // The spare taken by the first connection is replaced once; after that, websockets come back.
      assert.ok((await upgradesDuring(() => sequentialExchanges(forward.entrance.port, 40))) <= 2);
      assert.ok((await upgradesDuring(() => sequentialExchanges(reverse.entrance.port, 40))) <= 2);
    } finally {
      await client.close();
    }
  });

  test('a long connection keeps its bytes apart from short ones reusing websockets beside it', async () => {
    const client = await connectClient(server);
    try {
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      const long = await connect(forward.entrance.port);
      const reply = readAll(long);
      const first = randomBytes(200 * 1024);
      long.write(first);
      await sequentialExchanges(forward.entrance.port, 10);
      const second = randomBytes(200 * 1024);
      long.end(second);
      assert.deepEqual(await reply, Buffer.concat([first, second]));
      long.destroy();
    } finally {
      await client.close();
    }
  });

  test('a burst hands back at most 8 idle websockets', async () => {
    const client = await connectClient(server);
    try {
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      const payloads = Array.from({ length: 20 }, () => randomBytes(32 * 1024));
      const replies = await Promise.all(payloads.map((payload) => exchange(forward.entrance.port, payload)));
      replies.forEach((reply, i) => assert.deepEqual(reply, payloads[i]));
      // The server's side of this client's websockets: its channel, and the idle data websockets.
      const dataWebSockets = () => server.app.websocketServer.clients.size - 1;
      await waitUntil(() => dataWebSockets() <= 8, 10_000, () => `at most 8 idle websockets (now ${dataWebSockets()})`);
      await sequentialExchanges(forward.entrance.port, 5);
    } finally {
      await client.close();
    }
  });

  test('a connection the exit aborts does not hand its websocket on', async () => {
    const resetter = await listen((socket) => socket.once('data', () => socket.resetAndDestroy()));
    const client = await connectClient(server);
    try {
      const toResetter = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: resetter.port });
      const opened = await upgradesDuring(async () => {
        for (let i = 0; i < 5; i++) {
          const socket = await connect(toResetter.entrance.port);
          socket.write('hello');
          assert.equal((await readAll(socket, 10_000)).length, 0);
          socket.destroy();
        }
      });
      assert.ok(opened >= 5, `each aborted websocket is replaced (${opened} upgrades)`);
    } finally {
      await client.close();
      await resetter.close();
    }
  });

  test('without the extension every connection has its own websocket, as the original', async () => {
    const client = await connectClient(server, { features: ['half-close'] });
    try {
      const forward = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
      assert.ok((await upgradesDuring(() => sequentialExchanges(forward.entrance.port, 10))) >= 10);
    } finally {
      await client.close();
    }
  });
});
