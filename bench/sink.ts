/**
 * Child process: the data sink. `node sink.js` listens on an ephemeral loopback port, prints
 * `sink listening on PORT`, counts the bytes of its first connection and, at EOF, reports the
 * count, the time and its own CPU use, then half-closes back. Runs until killed.
 */
import { listen } from '../test/support/sockets.js';

const now = () => (performance.timeOrigin + performance.now()).toFixed(3);
const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

let served = false;
const server = await listen((socket) => {
  if (served) {
    socket.destroy();
    return;
  }
  served = true;
  const cpuAtStart = cpuMicros();
  let bytes = 0;
  let ended = false;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  socket.once('end', () => {
    ended = true;
    console.log(`sink received ${bytes} bytes at ${now()} cpu ${cpuMicros() - cpuAtStart}`);
    socket.end();
  });
  socket.once('close', () => {
    if (!ended) console.log(`sink closed after ${bytes} bytes at ${now()} cpu ${cpuMicros() - cpuAtStart}`);
  });
});
console.log(`sink listening on ${server.port}`);
