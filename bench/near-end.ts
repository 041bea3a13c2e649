/**
 * Child process: the user's end of the path. `node near-end.js PORT MODE STREAMS BYTES` prints
 * `near ready` and waits for SIGUSR1 (so that its start-up is not inside the measured window),
 * then opens STREAMS connections to 127.0.0.1:PORT at once and either sends BYTES in all
 * (`send`: BYTES/STREAMS each, then half-close, discarding what comes back) or counts what
 * arrives until EOF (`recv`). Reports when connected and when every connection has closed, with
 * the bytes it received and its own CPU use.
 */
import type net from 'node:net';
import { connect } from '../test/support/sockets.js';
import { cpuMicros, now, payloadChunk, writeBytes } from './endpoint.js';

const [portArg, mode, streamsArg, bytesArg] = process.argv.slice(2);
const port = Number(portArg);
const streams = Number(streamsArg);
const total = Number(bytesArg);
if (!Number.isInteger(port) || !['send', 'recv'].includes(mode ?? '') || !(streams >= 1) || !Number.isInteger(total) || total < 0) {
  console.error('usage: near-end.js PORT send|recv STREAMS BYTES');
  process.exit(2);
}

// A signal listener does not keep Node alive: the timer does, and bounds the wait.
const idle = setTimeout(() => {
  console.log('near failed: no SIGUSR1 within 60 s');
  process.exit(1);
}, 60_000);
const go = new Promise((resolve) => process.once('SIGUSR1', resolve));
console.log('near ready');
await go;
clearTimeout(idle);

const sockets = await Promise.all(Array.from({ length: streams }, () => connect(port!)));
const cpuAtStart = cpuMicros();
console.log(`near connected at ${now()}`);
let received = 0;
let open = streams;
const onClose = () => {
  if (--open === 0) console.log(`near done received ${received} bytes at ${now()} cpu ${cpuMicros() - cpuAtStart}`);
};
sockets.forEach((socket, index) => carry(socket, index));

function carry(socket: net.Socket, index: number): void {
  socket.setNoDelay(true);
  socket.on('error', (err) => {
    console.log(`near failed: ${err.message}`);
    process.exit(1);
  });
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  socket.once('close', onClose);
  if (mode === 'recv') {
    // EOF back only after EOF in: a relay without half-close (socat) would cut the download short.
    socket.once('end', () => socket.end());
    return;
  }
  const share = Math.floor(total / streams) + (index < total % streams ? 1 : 0);
  writeBytes(socket, payloadChunk(), share, () => socket.end());
}
