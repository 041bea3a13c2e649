import { waitUntil } from '../test/support/sockets.js';
import type { BenchCase } from './cases.js';
import { cleanup } from './cleanup.js';
import { childrenOf, cpuSeconds, systemBusySeconds } from './proc-cpu.js';
import { startSink, startSource, transfer } from './traffic.js';

const GiB = 1024 ** 3;

export interface CaseResult {
  id: string;
  label: string;
  processes: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or how it failed. */
  note?: string;
  bytes?: number;
  seconds?: number;
  /** 10^6 bytes per second. */
  mbPerSecond?: number;
  /** CPU seconds (user + system) of the tunnel's processes during the transfer; null: no tunnel. */
  tunnelCpuSeconds?: number | null;
  tunnelCpuSecondsPerGiB?: number | null;
  /** The same for the source and sink processes, which are not part of the tunnel. */
  endpointCpuSecondsPerGiB?: number;
  /**
   * CPUs kept busy during the transfer by everything else on the machine (system-wide busy time
   * from /proc/stat minus tunnel and endpoints, over the wall time): well above 0 means the row
   * was measured on a loaded machine.
   */
  otherBusyCpus?: number;
}

/** Runs one case: sink, tunnel, one transfer of `bytes`, CPU before/after; always stops what it started. */
export async function measure(benchCase: BenchCase, bytes: number): Promise<CaseResult> {
  const base = { id: benchCase.id, label: benchCase.label, processes: benchCase.processes };
  const unavailable = benchCase.unavailable?.();
  if (unavailable) return { ...base, status: 'skipped', note: unavailable };
  // Generous: 30 s plus 10 MB/s, where these tunnels do hundreds.
  const timeoutMs = 30_000 + bytes / 10_000;
  try {
    const sink = await startSink();
    const path = await benchCase.start(sink.port);
    // Let the tunnel finish its start-up work (spare websockets, logging) before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const source = await startSource(path.entrancePort, bytes);
    const wallBefore = performance.now();
    const systemBefore = systemBusySeconds();
    const cpuBefore = cpuSeconds(path.pids);
    const moved = await transfer(source, sink, bytes, timeoutMs);
    // socat serves the connection in a forked child: its CPU reaches the parent's cutime/cstime once reaped.
    await waitUntil(() => childrenOf(path.pids).length === 0, 5_000, 'the relays to reap their children');
    const tunnelCpu = path.pids.length > 0 ? cpuSeconds(path.pids) - cpuBefore : null;
    const systemBusy = systemBusySeconds() - systemBefore;
    const wall = (performance.now() - wallBefore) / 1000;
    const gib = moved.received / GiB;
    return {
      ...base,
      status: 'ok',
      bytes: moved.received,
      seconds: moved.seconds,
      mbPerSecond: moved.received / moved.seconds / 1e6,
      tunnelCpuSeconds: tunnelCpu,
      tunnelCpuSecondsPerGiB: tunnelCpu === null ? null : tunnelCpu / gib,
      endpointCpuSecondsPerGiB: moved.endpointCpuSeconds / gib,
      otherBusyCpus: Math.max(0, systemBusy - (tunnelCpu ?? 0) - moved.endpointCpuSeconds) / wall,
    };
  } catch (err) {
    const message = (err as Error).message.trim().replace(/\s*\n\s*/g, ' / ').replaceAll('|', '\\|');
    return { ...base, status: 'failed', note: message.length > 400 ? `${message.slice(0, 400)}...` : message };
  } finally {
    await cleanup();
  }
}
