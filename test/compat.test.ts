import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../common/protocol.js';
import type { NetunnelServer } from '../server/server.js';
import { call, connectClient, startServer } from './support/in-process.js';
import { echoServer, exchange, randomBytes, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** Opens a channel and a forward tunnel the way the original Python client does, by hand. */
async function originalForwardTunnel(server: NetunnelServer, exitPort: number) {
  const base = server.url.replace('http', 'ws');
  const { body } = await call(server, 'POST', '/channels', { version: '1.0.12' });
  const channelId = (body as { channel_id: number }).channel_id;
  const channel = new WebSocket(`${base}/channels/${channelId}/connect`, { perMessageDeflate: false });
  await once(channel, 'open');
  const created = await call(server, 'POST', `/channels/${channelId}/tunnels`, { exit_address: '127.0.0.1', exit_port: exitPort, reverse: false });
  const tunnelId = (created.body as { tunnel_id: number }).tunnel_id;
  const openData = async () => {
    const ws = new WebSocket(`${base}/channels/${channelId}/tunnels/${tunnelId}/connect`, { perMessageDeflate: false });
    await once(ws, 'open');
    return ws;
  };
  return { channel, openData };
}

describe('compatibility with the original NETunnel', () => {
  let server: NetunnelServer;
  let echo: TestServer;
  before(async () => {
    server = await startServer();
    echo = await echoServer();
  });
  after(async () => {
    await server.close();
    await echo.close();
  });

  test('an exit discards the first message whatever it is, ignores empty frames, and sends frames of at most 64 KiB', async () => {
    const { channel, openData } = await originalForwardTunnel(server, echo.port);
    const ws = await openData();
    const received: Buffer[] = [];
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, true);
      received.push(data as Buffer);
    });
    const payload = randomBytes(1024 * 1024);
    ws.send('not pasten at all');
    ws.send(Buffer.alloc(0));
    ws.send(payload);
    await waitUntil(() => received.reduce((n, b) => n + b.length, 0) >= payload.length, 10_000, 'the echo');
    assert.equal(sha256(Buffer.concat(received)), sha256(payload));
    assert.ok(received.every((frame) => frame.length > 0 && frame.length <= MAX_FRAME_BYTES));
    // Closing the websocket ends the connection: the exit closes with 1000, as the original.
    ws.close(1000);
    const [code] = await once(ws, 'close');
    assert.equal(code, 1000);
    channel.close();
  });

  test('a tunnel exit answers a websocket close by closing the TCP connection', async () => {
    let closed = 0;
    const watcher = await echoServer();
    watcher.server.on('connection', (socket) => socket.once('close', () => closed++));
    const { channel, openData } = await originalForwardTunnel(server, watcher.port);
    const ws = await openData();
    ws.send('pasten');
    ws.send(Buffer.from('x'));
    await once(ws, 'message');
    ws.close(1000);
    await waitUntil(() => closed === 1, 5000, 'the exit connection to close');
    channel.close();
    await watcher.close();
  });

  test('without negotiated half-close, EOF ends the whole connection as the original does', async () => {
    const replier = await requestReplyServer((request) => Buffer.concat([Buffer.from('reply to '), request]));
    const original = await connectClient(server, { features: [] });
    const modern = await connectClient(server);
    try {
      assert.equal(original.features.size, 0);
      assert.deepEqual([...modern.features].sort(), ['entrance-port', 'half-close', 'named-reverse', 'websocket-reuse']);
      const plain = await original.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: replier.port });
      const halfClosing = await modern.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: replier.port });
      assert.equal((await exchange(plain.entrance.port, Buffer.from('ping'))).length, 0, 'the original loses the reply');
      assert.equal((await exchange(halfClosing.entrance.port, Buffer.from('ping'))).toString(), 'reply to ping');
    } finally {
      await original.close();
      await modern.close();
      await replier.close();
    }
  });
});
