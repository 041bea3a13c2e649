/**
 * Child process: the end of the path behind the tunnel. `node far-end.js MODE [STREAMS] [BYTES]`
 * listens on an ephemeral loopback port and prints `far listening on PORT`. Modes:
 * - `recv STREAMS`: counts the bytes of the first STREAMS connections; when all of them reached
 *   EOF (or closed), reports the total, the time and its own CPU use, and half-closes each back;
 * - `send STREAMS BYTES[,BYTES...]`: writes BYTES/STREAMS bytes on each of the first STREAMS
 *   connections, then half-closes it; reports its CPU use when all are written;
 * - `echo`: echoes every connection (latency and scale cases), no report.
 * The next STREAMS connections after a report make a new round (a warm-up, then the measured
 * transfer); `send` takes the next BYTES for it. Runs until killed.
 */
import type net from 'node:net';
import { listen } from '../test/support/sockets.js';
import { cpuMicros, now, payloadChunk, writeBytes } from './endpoint.js';

const [mode, streamsArg = '1', bytesArg = '0'] = process.argv.slice(2);
const streams = Number(streamsArg);
const rounds = bytesArg.split(',').map(Number);
if (!['recv', 'send', 'echo'].includes(mode ?? '') || !Number.isInteger(streams) || streams < 1 || !rounds.every(Number.isInteger)) {
  console.error('usage: far-end.js recv STREAMS | send STREAMS BYTES[,BYTES...] | echo');
  process.exit(2);
}

let round = 0;
let accepted = 0;
let finished = 0;
let total = 0;
let clean = true;
let cpuAtStart = 0;

function served(socket: net.Socket): boolean {
  if (accepted === 0) cpuAtStart = cpuMicros();
  if (accepted++ < streams) return true;
  socket.destroy();
  return false;
}

function streamDone(): void {
  if (++finished < streams) return;
  const how = clean ? 'done' : 'closed early';
  console.log(`far ${how} ${total} bytes at ${now()} cpu ${cpuMicros() - cpuAtStart}`);
  round++;
  accepted = finished = total = 0;
  clean = true;
}

function receive(socket: net.Socket): void {
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    total += chunk.length;
  });
  socket.once('end', () => {
    ended = true;
    socket.end();
    streamDone();
  });
  socket.once('close', () => {
    if (ended) return;
    clean = false;
    streamDone();
  });
}

function send(socket: net.Socket): void {
  const bytes = rounds[Math.min(round, rounds.length - 1)]!;
  const share = Math.floor(bytes / streams) + (accepted <= bytes % streams ? 1 : 0);
  socket.resume();
  writeBytes(socket, payloadChunk(), share, () => {
    total += share;
    socket.end();
    streamDone();
  });
}

const server = await listen((socket) => {
  socket.setNoDelay(true);
  if (mode === 'echo') {
    socket.pipe(socket);
    return;
  }
  if (!served(socket)) return;
  if (mode === 'recv') receive(socket);
  else send(socket);
});
console.log(`far listening on ${server.port}`);
