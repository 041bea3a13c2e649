import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { Channel } from '../common/channel.js';
import { RequestedWebSockets } from '../server/requested-websockets.js';
import { silentLogger } from './support/in-process.js';

test('a client that never answers NEW_CONNECTION fails the request in time, and leaves no unheard rejection', async () => {
  const unheard: unknown[] = [];
  const onUnhandled = (reason: unknown) => unheard.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection');
  // The client's side reads the channel and answers nothing, as a frozen client.
  const frozen = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await once(frozen, 'open');
  const [serverSide] = (await accepted) as [WebSocket];
  const channel = new Channel(serverSide, { logger: silentLogger(), requestTimeoutMs: 600 });
  try {
    const requested = new RequestedWebSockets(channel, 1, 100);
    await assert.rejects(requested.request(), { code: 'TIMEOUT', message: /did not open a websocket for tunnel 1/ });
    // Past the channel's own timeout for the unanswered request, and a turn for rejections to be reported.
    await new Promise((resolve) => setTimeout(resolve, 900));
    assert.deepEqual(unheard, []);
    assert.equal(requested.deliver(serverSide), false, 'the failed request no longer waits for a websocket');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    frozen.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
});
