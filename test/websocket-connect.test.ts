import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type WebSocket from 'ws';
import { openWebSocket } from '../client/websocket-connect.js';
import { listen } from './support/sockets.js';

/**
 * A server that answers the upgrade and sends a TEXT frame in the same TCP write, as a
 * busy netunnel server does when a connection is already waiting for the websocket.
 */
function eagerServer(frameText: string) {
  return listen((socket) => {
    socket.once('data', (request: Buffer) => {
      const key = /sec-websocket-key: (.+)\r\n/i.exec(request.toString())![1]!;
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const answer = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
      const payload = Buffer.from(frameText);
      socket.write(Buffer.concat([Buffer.from(answer), Buffer.from([0x81, payload.length]), payload]));
    });
  });
}

test('frames sent right behind the upgrade answer reach the adopter', async () => {
  const server = await eagerServer('pasten');
  try {
    const first = new Promise<string>((resolve) => {
      void openWebSocket(`ws://127.0.0.1:${server.port}/`, {}, (ws: WebSocket) => {
        ws.once('message', (data) => resolve(String(data)));
      }).then((ws) => ws.once('close', () => {}));
    });
    assert.equal(await first, 'pasten');
  } finally {
    await server.close();
  }
});

test('a refused upgrade rejects with the server\'s own error sentence', async () => {
  const server = await listen((socket) => {
    socket.once('data', () => {
      const body = JSON.stringify({ error: 'channel 9 does not exist', code: 'NOT_FOUND' });
      socket.end(`HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    });
  });
  try {
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${server.port}/`, {}), { statusCode: 404, message: 'channel 9 does not exist' });
  } finally {
    await server.close();
  }
});
