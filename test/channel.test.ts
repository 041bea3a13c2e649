import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { Channel } from '../common/channel.js';
import { decodeFrame, encodeMessage } from '../common/channel-codec.js';
import { Heartbeat } from '../common/heartbeat.js';
import { MessageType } from '../common/protocol.js';
import type { ChannelDoc } from '../common/protocol.js';
import { call, silentLogger, startServer } from './support/in-process.js';
import { isRefused, waitUntil } from './support/sockets.js';

/** Two real websockets joined over loopback: [server side, client side]. */
async function websocketPair(clientOptions: WebSocket.ClientOptions = {}): Promise<[WebSocket, WebSocket, () => Promise<void>]> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, clientOptions);
  await once(client, 'open');
  const [server] = (await accepted) as [WebSocket];
  return [server, client, () => new Promise((resolve) => wss.close(() => resolve()))];
}

describe('the channel: requests and responses', () => {
  let serverWs: WebSocket;
  let clientWs: WebSocket;
  let closeServer: () => Promise<void>;
  before(async () => {
    [serverWs, clientWs, closeServer] = await websocketPair();
  });
  after(async () => {
    clientWs.terminate();
    await closeServer();
  });

  test('a request is answered with its identifier; handler failures come back as errors', async () => {
    const asking = new Channel(serverWs, { logger: silentLogger() });
    const answering = new Channel(clientWs, { logger: silentLogger() });
    const seen: number[] = [];
    answering.handle(MessageType.NEW_CONNECTION, ({ tunnel_id }) => {
      seen.push(tunnel_id);
    });
    answering.handle(MessageType.DELETE_TUNNEL, ({ tunnel_id }) => {
      throw new Error(`tunnel_id \`${tunnel_id}\` is not registered on this client`);
    });
    await asking.request(MessageType.NEW_CONNECTION, { tunnel_id: 4 });
    await asking.request(MessageType.NEW_CONNECTION, { tunnel_id: 5 });
    assert.deepEqual(seen, [4, 5]);
    await assert.rejects(asking.request(MessageType.DELETE_TUNNEL, { tunnel_id: 7, force: false }), {
      code: 'REMOTE_ERROR',
      message: 'tunnel_id `7` is not registered on this client',
    });
  });

  test('unknown message types and malformed data are answered with an error, and the channel lives on', async () => {
    const replies: ChannelDoc[] = [];
    serverWs.on('message', (data) => replies.push(decodeFrame(data as Buffer)));
    serverWs.send(encodeMessage(900, 'TELEPORT', {}));
    serverWs.send(encodeMessage(901, MessageType.NEW_CONNECTION, { tunnel_id: 'one' }));
    serverWs.send(Buffer.from('not bson at all'));
    serverWs.send(encodeMessage(902, MessageType.NEW_CONNECTION, { tunnel_id: 9 }));
    await waitUntil(() => replies.length === 3, 5000, 'three answers');
    assert.deepEqual(
      replies.map((reply) => [reply._identifier, reply._type === 'response' ? reply.error : 'not a response']),
      [
        [900, 'unknown message type TELEPORT'],
        [901, 'TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION needs an integer tunnel_id'],
        [902, undefined],
      ],
    );
  });
});

describe('the channel: messages a client sends the server', () => {
  test('are answered with the empty OK, byte for byte as the original server (netunnel-wire.md §2.3)', async () => {
    const OK_TO_1 = '35000000025f747970650009000000726573706f6e736500105f6964656e7469666965720001000000036461746100050000000000';
    const server = await startServer();
    const { body } = await call(server, 'POST', '/channels', { version: '1.0.12' });
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/channels/${(body as { channel_id: number }).channel_id}/connect`);
    try {
      await once(ws, 'open');
      for (const [type, data] of [[MessageType.DELETE_TUNNEL, { tunnel_id: 1, force: false }], [MessageType.NEW_CONNECTION, { tunnel_id: 1 }]] as const) {
        const answer = once(ws, 'message');
        ws.send(encodeMessage(1, type, data));
        const [frame] = (await answer) as [Buffer];
        assert.equal(frame.toString('hex'), OK_TO_1, type);
      }
    } finally {
      ws.terminate();
      await server.close();
    }
  });
});

describe('the channel: timeouts and closing', () => {
  test('a request nobody answers times out; closing fails what is pending', async () => {
    const [serverWs, clientWs, closeServer] = await websocketPair();
    try {
      const asking = new Channel(serverWs, { logger: silentLogger(), requestTimeoutMs: 200 });
      await assert.rejects(asking.request(MessageType.NEW_CONNECTION, { tunnel_id: 1 }), { code: 'TIMEOUT' });
      const pending = asking.request(MessageType.NEW_CONNECTION, { tunnel_id: 2 }, 60_000);
      clientWs.close();
      await assert.rejects(pending, { code: 'CHANNEL_CLOSED' });
      await assert.rejects(asking.request(MessageType.NEW_CONNECTION, { tunnel_id: 3 }), { code: 'CHANNEL_CLOSED' });
    } finally {
      await closeServer();
    }
  });
});

describe('heartbeat', () => {
  test('a peer that answers pings stays; one that does not is cut off', async () => {
    const heartbeat = new Heartbeat({ intervalMs: 150, timeoutMs: 150 });
    const [aliveServer, aliveClient, closeA] = await websocketPair();
    const [deadServer, deadClient, closeB] = await websocketPair({ autoPong: false });
    try {
      heartbeat.watch(aliveServer);
      heartbeat.watch(deadServer);
      await once(deadServer, 'close');
      assert.equal(aliveServer.readyState, WebSocket.OPEN, 'the answering peer is kept');
      assert.equal(heartbeat.size, 1);
    } finally {
      heartbeat.close();
      aliveClient.terminate();
      deadClient.terminate();
      await closeA();
      await closeB();
    }
  });

  test('a peer that stopped reading is not judged, and tells the other side it is alive', async () => {
    // Each side's own heartbeat, as the server and the client run them.
    const heartbeat = new Heartbeat({ intervalMs: 150, timeoutMs: 150 });
    const [reading, stalled, close] = await websocketPair();
    try {
      heartbeat.watch(reading);
      heartbeat.watch(stalled);
      // A slow reader's stream pauses its websocket: the pings of `reading` go unanswered.
      stalled.pause();
      let pongs = 0;
      reading.on('pong', () => pongs++);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(reading.readyState, WebSocket.OPEN, 'the reading side kept the websocket');
      assert.equal(stalled.readyState, WebSocket.OPEN, 'the stalled side kept the websocket');
      assert.ok(pongs >= 3, `the stalled side sent ${pongs} unsolicited pongs`);
      stalled.resume();
    } finally {
      heartbeat.close();
      reading.terminate();
      stalled.terminate();
      await close();
    }
  });

  test('the server drops a client that stops answering, and releases its tunnels', async () => {
    const server = await startServer({}, { heartbeat: { intervalMs: 200, timeoutMs: 200 } });
    try {
      const { body } = await call(server, 'POST', '/channels', { version: '1.0.12' });
      const id = (body as { channel_id: number }).channel_id;
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/channels/${id}/connect`, { autoPong: false });
      await once(ws, 'open');
      const created = await call(server, 'POST', `/channels/${id}/tunnels`, { reverse: true, entrance_address: '127.0.0.1', entrance_port: null });
      assert.equal(created.status, 200);
      await once(ws, 'close');
      await waitUntil(() => server.channels.size === 0, 5000, 'the channel to be released');
      // Without entrance-port the client cannot know the port; the server's log could. The
      // channel is gone, so its tunnel ids are too.
      assert.equal((await call(server, 'DELETE', `/channels/${id}/tunnels/1`, { force: true })).status, 404);
    } finally {
      await server.close();
    }
  });

  test('the server releases a reverse entrance when its client dies', async () => {
    const server = await startServer({}, { heartbeat: { intervalMs: 200, timeoutMs: 200 } });
    try {
      const { body } = await call(server, 'POST', '/channels', { version: '1.0.12', features: ['entrance-port'] });
      const id = (body as { channel_id: number }).channel_id;
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/channels/${id}/connect`, { autoPong: false });
      await once(ws, 'open');
      const created = await call(server, 'POST', `/channels/${id}/tunnels`, { reverse: true, entrance_address: '127.0.0.1', entrance_port: null });
      const port = (created.body as { entrance_port: number }).entrance_port;
      assert.equal(await isRefused(port), false);
      await waitUntil(() => isRefused(port), 5000, 'the entrance to close');
    } finally {
      await server.close();
    }
  });
});
