import { waitUntil } from '../test/support/sockets.js';
import type { BenchCase } from './cases.js';
import { childrenOf, cpuSecondsEach, systemBusySeconds } from './proc-cpu.js';
import { runCase } from './run-case.js';
import type { RowBase } from './run-case.js';
import { startFarEnd, startNearEnd, transfer } from './traffic.js';
import type { Direction } from './traffic.js';

const GiB = 1024 ** 3;

export interface ThroughputSpec {
  direction: Direction;
  /** Parallel connections sharing `bytes`. */
  streams: number;
  bytes: number;
  /** Moved through the same path first and not counted (0: none). */
  warmupBytes: number;
}

export interface ThroughputFigures {
  bytes: number;
  seconds: number;
  /** 10^6 bytes per second. */
  mbPerSecond: number;
  /** CPU seconds (user + system) of the tunnel's processes during the transfer; null: no tunnel. */
  tunnelCpuSeconds: number | null;
  tunnelCpuSecondsPerGiB: number | null;
  /** The same for each tunnel process, in the order of `Path.pids` (the case's `processes`). */
  processCpuSecondsPerGiB: number[];
  /** The same for the two endpoint processes, which are not part of the tunnel. */
  endpointCpuSecondsPerGiB: number;
  /**
   * CPUs kept busy during the transfer by everything else on the machine (system-wide busy time
   * from /proc/stat minus tunnel and endpoints, over the wall time): well above 0 means the row
   * was measured on a loaded machine.
   */
  otherBusyCpus: number;
}

export type ThroughputResult = RowBase & Partial<ThroughputFigures>;

/** Generous: 30 s plus 10 MB/s, where these tunnels do hundreds. */
const timeoutFor = (bytes: number): number => 30_000 + bytes / 10_000;

/**
 * Runs one case: far end, tunnel, a warm-up transfer, then the measured one with CPU
 * before/after; always stops what it started.
 */
export function measureThroughput(benchCase: BenchCase, spec: ThroughputSpec): Promise<ThroughputResult> {
  return runCase(benchCase, async () => {
    const sizes = spec.warmupBytes > 0 ? [spec.warmupBytes, spec.bytes] : [spec.bytes];
    const far = await startFarEnd(spec.direction === 'upload' ? 'recv' : 'send', spec.streams, sizes);
    const path = await benchCase.start(far.port);
    // socat serves each connection in a forked child: its CPU reaches the parent's cutime/cstime
    // once reaped. Children that are themselves measured (sshd's session) stay.
    const reaped = () => childrenOf(path.pids).every((pid) => path.pids.includes(pid));
    if (spec.warmupBytes > 0) {
      // A long-running tunnel has its relay code compiled: the JIT's first work is not per GiB.
      const warm = await startNearEnd(path.entrancePort, spec.direction, spec.streams, spec.warmupBytes);
      await transfer(warm, far, spec.direction, spec.warmupBytes, timeoutFor(spec.warmupBytes));
      // The warm-up's children must not be reaped into the measured transfer's CPU.
      await waitUntil(reaped, 5_000, 'the relays to reap their warm-up children');
    }
    // Let the tunnel finish its start-up work (spare websockets, logging) before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const timeoutMs = timeoutFor(spec.bytes);
    const near = await startNearEnd(path.entrancePort, spec.direction, spec.streams, spec.bytes);
    const wallBefore = performance.now();
    const systemBefore = systemBusySeconds();
    const cpuBefore = cpuSecondsEach(path.pids);
    const moved = await transfer(near, far, spec.direction, spec.bytes, timeoutMs);
    await waitUntil(reaped, 5_000, 'the relays to reap their children');
    const processCpu = cpuSecondsEach(path.pids).map((seconds, i) => seconds - cpuBefore[i]!);
    const tunnelCpu = path.pids.length > 0 ? processCpu.reduce((sum, seconds) => sum + seconds, 0) : null;
    const systemBusy = systemBusySeconds() - systemBefore;
    const wall = (performance.now() - wallBefore) / 1000;
    const gib = moved.received / GiB;
    return {
      bytes: moved.received,
      seconds: moved.seconds,
      mbPerSecond: moved.received / moved.seconds / 1e6,
      tunnelCpuSeconds: tunnelCpu,
      tunnelCpuSecondsPerGiB: tunnelCpu === null ? null : tunnelCpu / gib,
      processCpuSecondsPerGiB: processCpu.map((seconds) => seconds / gib),
      endpointCpuSecondsPerGiB: moved.endpointCpuSeconds / gib,
      otherBusyCpus: Math.max(0, systemBusy - (tunnelCpu ?? 0) - moved.endpointCpuSeconds) / wall,
    };
  });
}
