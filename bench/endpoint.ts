import { randomBytes } from 'node:crypto';
import type net from 'node:net';

/** What the traffic endpoints (far-end.ts, near-end.ts) share: clock, CPU and the payload writer. */

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const now = (): string => (performance.timeOrigin + performance.now()).toFixed(3);

export const cpuMicros = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

let chunk: Buffer | undefined;

/** One random 1 MiB buffer, written again and again (incompressible, no per-write allocation). */
export function payloadChunk(): Buffer {
  chunk ??= randomBytes(1 << 20);
  return chunk;
}

/** Writes `total` bytes of `data` (repeated) with backpressure, then calls `done` (not ending the socket). */
export function writeBytes(socket: net.Socket, data: Buffer, total: number, done: () => void): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const length = Math.min(left, data.length);
      left -= length;
      if (!socket.write(length === data.length ? data : data.subarray(0, length))) {
        socket.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}
