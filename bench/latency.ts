import { once } from 'node:events';
import { connect } from '../test/support/sockets.js';
import type { BenchCase } from './cases.js';
import { percentiles } from './percentile.js';
import type { Percentiles } from './percentile.js';
import { runCase } from './run-case.js';
import type { RowBase } from './run-case.js';
import { ECHO_TIMEOUT_MS, echoed } from './echo.js';
import { startFarEnd } from './traffic.js';
import { within } from './within.js';

export interface LatencySpec {
  /** 64-byte echo round trips over one connection (after as many again to warm up). */
  roundTrips: number;
  /** Sequential new connections, each with a 1-byte echo. */
  connections: number;
}

export interface LatencyFigures {
  /** Milliseconds per 64-byte round trip. */
  rttMs: Percentiles;
  /** Milliseconds from connect() to the 1-byte echo back. */
  connectMs: Percentiles;
}

export type LatencyResult = RowBase & Partial<LatencyFigures>;

async function roundTrips(port: number, count: number): Promise<number[]> {
  const socket = await connect(port);
  socket.setNoDelay(true);
  const payload = Buffer.alloc(64, 0x61);
  const samples: number[] = [];
  try {
    for (let i = 0; i < count * 2; i++) {
      const start = performance.now();
      await echoed(socket, payload);
      if (i >= count) samples.push(performance.now() - start);
    }
  } finally {
    socket.destroy();
  }
  return samples;
}

async function newConnections(port: number, count: number): Promise<number[]> {
  const payload = Buffer.from('x');
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    const socket = await connect(port);
    socket.setNoDelay(true);
    try {
      await echoed(socket, payload);
      samples.push(performance.now() - start);
    } finally {
      socket.end();
    }
    // Closed both ways before the next opens, as sequential users would.
    if (!socket.closed) await within(once(socket, 'close'), ECHO_TIMEOUT_MS, 'a connection to close');
  }
  return samples;
}

/** Round trips and new connections through one case, measured from this process against an echo far end. */
export function measureLatency(benchCase: BenchCase, spec: LatencySpec): Promise<LatencyResult> {
  return runCase(benchCase, async () => {
    const far = await startFarEnd('echo');
    const path = await benchCase.start(far.port);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const rttMs = percentiles(await roundTrips(path.entrancePort, spec.roundTrips));
    const connectMs = percentiles(await newConnections(path.entrancePort, spec.connections));
    return { rttMs, connectMs };
  });
}
