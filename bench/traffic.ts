import { fileURLToPath } from 'node:url';
import { spawnNode } from '../test/support/processes.js';
import type { Spawned } from '../test/support/processes.js';
import { onCleanup } from './cleanup.js';
import { within } from './within.js';

/**
 * The traffic endpoints: the far end (behind the tunnel, listening) and the near end (the
 * user's side, connecting) each run in their own child process (far-end.ts, near-end.ts), so
 * their CPU is neither counted as the tunnel's nor taken from the bench's main process, which
 * only waits for their report lines during a transfer.
 */

const FAR_END = fileURLToPath(new URL('./far-end.js', import.meta.url));
const NEAR_END = fileURLToPath(new URL('./near-end.js', import.meta.url));

export type Direction = 'upload' | 'download';

export interface FarEnd {
  port: number;
  process: Spawned;
}

/**
 * Starts a far end: `recv`/`send` for rounds of `streams` connections, or `echo`. A `send` far
 * end writes `bytes[i]` in all in round i (the last size again after those).
 */
export async function startFarEnd(mode: 'recv' | 'send' | 'echo', streams = 1, bytes: number[] = [0]): Promise<FarEnd> {
  const far = spawnNode(FAR_END, [mode, String(streams), bytes.join(',')]);
  onCleanup(() => far.stop());
  const [, port] = await far.waitFor(/far listening on (\d+)/);
  return { port: Number(port), process: far };
}

export interface Transfer {
  /** Bytes counted by the receiving end before EOF. */
  received: number;
  /** From the near end's connections being established to the last EOF at the receiving end. */
  seconds: number;
  /** CPU seconds used by both endpoints during the transfer. */
  endpointCpuSeconds: number;
}

export interface NearEnd {
  process: Spawned;
  /** Starts the transfer. */
  go(): void;
}

/** Starts a near end that will open `streams` connections to `port` when told to go. */
export async function startNearEnd(port: number, direction: Direction, streams: number, bytes: number): Promise<NearEnd> {
  const mode = direction === 'upload' ? 'send' : 'recv';
  const near = spawnNode(NEAR_END, [String(port), mode, String(streams), String(bytes)]);
  onCleanup(() => near.stop());
  await near.waitFor(/near ready/);
  return { process: near, go: () => near.child.kill('SIGUSR1') };
}

/** Runs one transfer of `bytes` between `near` and `far` (made for `direction`); resolves when both are done. */
export async function transfer(near: NearEnd, far: FarEnd, direction: Direction, bytes: number, timeoutMs: number): Promise<Transfer> {
  // The far end serves rounds: this transfer's report is the first one printed from now on.
  const farFrom = far.process.output().length;
  near.go();
  const [, connectedAt] = await near.process.waitFor(/near connected at ([\d.]+)/, 30_000);
  const [, how, farBytes, farAt, farCpu] = await far.process.waitFor(/far (done|closed early) (\d+) bytes at ([\d.]+) cpu (\d+)/, timeoutMs, farFrom);
  const [, nearBytes, nearAt, nearCpu] = await near.process.waitFor(/near done received (\d+) bytes at ([\d.]+) cpu (\d+)/, timeoutMs);
  await within(near.process.exited(), 15_000, 'the near end to exit');
  if (how !== 'done') throw new Error(`a connection at the far end closed without EOF (${farBytes} bytes)`);
  const received = Number(direction === 'upload' ? farBytes : nearBytes);
  if (received !== bytes) throw new Error(`${direction}: ${received} bytes arrived, expected ${bytes}`);
  const endAt = Number(direction === 'upload' ? farAt : nearAt);
  return {
    received,
    seconds: (endAt - Number(connectedAt)) / 1000,
    endpointCpuSeconds: (Number(farCpu) + Number(nearCpu)) / 1e6,
  };
}
