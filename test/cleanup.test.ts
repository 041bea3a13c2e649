import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient, startServer } from './support/in-process.js';
import { connect, echoServer, exchange, listen, readAll, waitUntil } from './support/sockets.js';

/** Open TCP handles of this process: sockets, listeners, websockets' sockets alike. */
function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPSocketWrap' || name === 'TCPServerWrap').length;
}

test('every socket is released when connections end, however they end', async () => {
  const server = await startServer();
  const echo = await echoServer();
  // An exit service that resets every connection as soon as it has read something.
  const resetter = await listen((socket) => socket.once('data', () => socket.resetAndDestroy()));
  const client = await connectClient(server);
  const toEcho = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
  const toResetter = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: resetter.port });
  // Let the spare websockets settle, then count.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const baseline = tcpHandles();
  try {
    for (let i = 0; i < 30; i++) {
      assert.equal((await exchange(toEcho.entrance.port, Buffer.from(`round ${i}`))).toString(), `round ${i}`);
    }
    for (let i = 0; i < 20; i++) {
      // The user aborts in the middle of a stream.
      const socket = await connect(toEcho.entrance.port);
      socket.write(Buffer.alloc(256 * 1024));
      socket.resetAndDestroy();
    }
    for (let i = 0; i < 20; i++) {
      // The service behind the exit aborts.
      const socket = await connect(toResetter.entrance.port);
      socket.write('hello');
      assert.equal((await readAll(socket, 10_000)).length, 0);
      socket.destroy();
    }
    // Websockets handed back for reuse beyond the spare stay idle for 10 s, then go too.
    await waitUntil(() => tcpHandles() <= baseline, 25_000, () => `handles back to ${baseline} (now ${tcpHandles()})`);
    assert.equal(echo.sockets.size, 0, 'the echo service holds no connection');
  } finally {
    await client.close();
    await server.close();
    await echo.close();
    await resetter.close();
  }
});

test('an idle spare websocket survives many heartbeats and is used', async () => {
  const heartbeat = { intervalMs: 100, timeoutMs: 100 };
  const server = await startServer({}, { heartbeat });
  let upgrades = 0;
  server.app.websocketServer.on('connection', () => upgrades++);
  const echo = await echoServer();
  const client = await connectClient(server, { heartbeat });
  try {
    const tunnel = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: echo.port });
    assert.equal(upgrades, 2, 'the channel and one spare');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(upgrades, 2, 'nothing was dropped and replaced while idle');
    assert.equal((await exchange(tunnel.entrance.port, Buffer.from('still here'))).toString(), 'still here');
  } finally {
    await client.close();
    await server.close();
    await echo.close();
  }
});

