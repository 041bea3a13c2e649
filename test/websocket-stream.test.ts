import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { EXIT_REFUSED_CLOSE_CODE } from '../common/protocol.js';
import { WebSocketStream } from '../common/websocket-stream.js';

/**
 * The exit refuses the connection (close code EXIT_REFUSED_CLOSE_CODE with the reason) while
 * the entrance is still writing: the writes that meet the closing websocket must not turn the
 * refusal into a write error, or the user is told "not open" instead of why.
 */
test('an exit refused while the entrance writes: the stream reports the refusal, not a write error', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  wss.on('connection', (ws) => ws.once('message', () => ws.close(EXIT_REFUSED_CLOSE_CODE, 'connect ECONNREFUSED 127.0.0.1:9')));
  try {
    for (let round = 0; round < 20; round++) {
      const ws = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate: false });
      await once(ws, 'open');
      const stream = WebSocketStream.forEntrance(ws, { halfClose: true });
      stream.on('error', () => {});
      stream.resume();
      const closed = once(stream, 'close');
      const chunk = Buffer.alloc(16 * 1024, round);
      let writes = 0;
      // Keep writing until the close arrives, so that some writes meet the closing websocket.
      const pump = setInterval(() => {
        if (!stream.destroyed && writes++ < 5_000) stream.write(chunk);
      }, 0);
      try {
        await closed;
      } finally {
        clearInterval(pump);
      }
      assert.equal(stream.errored, null, `round ${round}: ${stream.errored?.message}`);
      assert.equal(stream.exitRefusal, 'connect ECONNREFUSED 127.0.0.1:9', `round ${round}`);
    }
  } finally {
    for (const client of wss.clients) client.terminate();
    wss.close();
  }
});
