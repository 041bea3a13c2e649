import { readFileSync } from 'node:fs';
import type net from 'node:net';
import { connect } from '../test/support/sockets.js';
import type { BenchCase } from './cases.js';
import { echoed } from './echo.js';
import { runCase } from './run-case.js';
import type { RowBase } from './run-case.js';
import { startFarEnd } from './traffic.js';
import { within } from './within.js';

export interface ScaleFigures {
  connections: number;
  /** Seconds to open them all (BATCH at a time, each confirmed by a 1-byte echo). */
  openSeconds: number;
  /** Connections that still echoed a byte once all were open. */
  usable: number;
  /** RSS growth per connection of each tunnel process (KiB), in the order of `Path.pids`. */
  rssKiBPerConnection: number[];
}

export type ScaleResult = RowBase & Partial<ScaleFigures>;

/** Connections opened at once: a burst, not a flood the kernel's accept backlog would drop. */
const BATCH = 100;
const OPEN_TIMEOUT_MS = 120_000;
const ONE_BYTE = Buffer.from('x');

export function rssKiB(pid: number): number {
  const match = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** Opens one connection and waits for the echo of `payload`, so that the whole path exists (and carried it). */
async function openEchoed(port: number, payload: Buffer): Promise<net.Socket> {
  const socket = await connect(port);
  socket.on('error', () => {});
  await echoed(socket, payload, OPEN_TIMEOUT_MS);
  return socket;
}

/** Descriptors a tunnel process needs for `connections` held open: 2 each, plus its own. */
const descriptorsNeeded = (connections: number): number => 2 * connections + 200;

function openFilesLimit(): number {
  return Number(readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)?.[1] ?? 0);
}

/**
 * How many of `asked` connections this machine lets every process hold: all of them, or the
 * most (in hundreds) that `ulimit -n` allows, with the reason it is fewer.
 */
export function feasibleConnections(asked: number): { connections: number; note?: string } {
  const limit = openFilesLimit();
  if (limit >= descriptorsNeeded(asked)) return { connections: asked };
  const connections = Math.max(0, Math.floor((limit - descriptorsNeeded(0)) / 200) * 100);
  return { connections, note: `${asked} asked: it needs ${descriptorsNeeded(asked)} open files per tunnel process, and ulimit -n is ${limit}` };
}

/**
 * Holds `connections` open through one case, each once it echoed `echoBytes`, then checks
 * them and the tunnel's memory.
 */
export function measureScale(benchCase: BenchCase, connections: number, echoBytes: number, skip?: string): Promise<ScaleResult> {
  return runCase(
    benchCase,
    async () => {
      const far = await startFarEnd('echo');
      const path = await benchCase.start(far.port);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const before = path.pids.map(rssKiB);
      const sockets: net.Socket[] = [];
      const start = performance.now();
      try {
        await within(openAll(path.entrancePort, connections, Buffer.alloc(echoBytes, 'x'), sockets), OPEN_TIMEOUT_MS, `${connections} connections to open`);
        const openSeconds = (performance.now() - start) / 1000;
        // Let freshly freed start-up garbage go before reading RSS.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const after = path.pids.map(rssKiB);
        const answered = await within(Promise.allSettled(sockets.map((socket) => echoed(socket, ONE_BYTE, OPEN_TIMEOUT_MS))), OPEN_TIMEOUT_MS, 'every connection to echo');
        return {
          connections,
          openSeconds,
          usable: answered.filter((a) => a.status === 'fulfilled').length,
          rssKiBPerConnection: after.map((kib, i) => (kib - before[i]!) / connections),
        };
      } finally {
        for (const socket of sockets) socket.destroy();
      }
    },
    skip,
  );
}

async function openAll(port: number, connections: number, payload: Buffer, sockets: net.Socket[]): Promise<void> {
  while (sockets.length < connections) {
    const batch = Math.min(BATCH, connections - sockets.length);
    sockets.push(...(await Promise.all(Array.from({ length: batch }, () => openEchoed(port, payload)))));
  }
}
