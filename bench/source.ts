/**
 * Child process: the data source. `node source.js PORT BYTES` prints `source ready` and waits for
 * SIGUSR1 (so that its start-up is not inside the measured window), then connects to
 * 127.0.0.1:PORT, writes BYTES bytes (one random 1 MiB buffer, repeated), half-closes, discards
 * whatever comes back, and reports on stdout when connected and when the connection has closed,
 * with its own CPU use.
 */
import { randomBytes } from 'node:crypto';
import { connect } from '../test/support/sockets.js';

const CHUNK = randomBytes(1 << 20);
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);
const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

const [port, total] = process.argv.slice(2).map(Number);
if (!Number.isInteger(port) || !Number.isInteger(total) || total < 0) {
  console.error('usage: source.js PORT BYTES');
  process.exit(2);
}

// A signal listener does not keep Node alive: the timer does, and bounds the wait.
const idle = setTimeout(() => {
  console.log('source failed: no SIGUSR1 within 60 s');
  process.exit(1);
}, 60_000);
const go = new Promise((resolve) => process.once('SIGUSR1', resolve)).then(() => clearTimeout(idle));
console.log('source ready');
await go;
const socket = await connect(port!);
const cpuAtStart = cpuMicros();
console.log(`source connected at ${now()}`);
socket.on('error', (err) => {
  console.log(`source failed: ${err.message}`);
  process.exit(1);
});
socket.resume();
let left = total!;
socket.once('close', () => console.log(`source done sent ${total! - left} bytes at ${now()} cpu ${cpuMicros() - cpuAtStart}`));

function pump(): void {
  while (left > 0) {
    const length = Math.min(left, CHUNK.length);
    left -= length;
    if (!socket.write(length === CHUNK.length ? CHUNK : CHUNK.subarray(0, length))) {
      socket.once('drain', pump);
      return;
    }
  }
  socket.end();
}
pump();
