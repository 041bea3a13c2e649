import { fileURLToPath } from 'node:url';
import { spawnNode } from '../test/support/processes.js';
import type { Spawned } from '../test/support/processes.js';
import { onCleanup } from './cleanup.js';
import { within } from './within.js';

/**
 * The traffic endpoints: the sink and the source each run in their own child process (see
 * sink.ts and source.ts), so their CPU is neither counted as the tunnel's nor taken from the
 * bench's main process, which only waits for their report lines during a transfer.
 */

const SINK = fileURLToPath(new URL('./sink.js', import.meta.url));
const SOURCE = fileURLToPath(new URL('./source.js', import.meta.url));

export interface Sink {
  port: number;
  process: Spawned;
}

export async function startSink(): Promise<Sink> {
  const sink = spawnNode(SINK, []);
  onCleanup(() => sink.stop());
  const [, port] = await sink.waitFor(/sink listening on (\d+)/);
  return { port: Number(port), process: sink };
}

export interface Transfer {
  /** Bytes counted by the sink before EOF. */
  received: number;
  /** From the source's connection being established to EOF at the sink. */
  seconds: number;
  /** CPU seconds used by source and sink during the transfer. */
  endpointCpuSeconds: number;
}

export interface Source {
  process: Spawned;
  /** Starts sending. */
  go(): void;
}

/** Starts a source process that will send `bytes` to `port` when told to go. */
export async function startSource(port: number, bytes: number): Promise<Source> {
  const source = spawnNode(SOURCE, [String(port), String(bytes)]);
  onCleanup(() => source.stop());
  await source.waitFor(/source ready/);
  return { process: source, go: () => source.child.kill('SIGUSR1') };
}

/** Sends `bytes` from `source` (made by startSource) to `sink`; resolves when the source has exited. */
export async function transfer(source: Source, sink: Sink, bytes: number, timeoutMs: number): Promise<Transfer> {
  source.go();
  const [, connectedAt] = await source.process.waitFor(/source connected at ([\d.]+)/);
  const [, how, received, endAt, sinkCpu] = await sink.process.waitFor(
    /sink (received|closed after) (\d+) bytes at ([\d.]+) cpu (\d+)/,
    timeoutMs,
  );
  const [, sent, sourceCpu] = await source.process.waitFor(/source done sent (\d+) bytes at [\d.]+ cpu (\d+)/, 15_000);
  await within(source.process.exited(), 15_000, 'the source process to exit');
  if (how !== 'received') throw new Error(`the sink's connection closed without EOF after ${received} bytes`);
  if (Number(sent) !== bytes) throw new Error(`the source sent ${sent} of ${bytes} bytes`);
  if (Number(received) !== bytes) throw new Error(`the sink received ${received} bytes, expected ${bytes}`);
  return {
    received: Number(received),
    seconds: (Number(endAt) - Number(connectedAt)) / 1000,
    endpointCpuSeconds: (Number(sinkCpu) + Number(sourceCpu)) / 1e6,
  };
}
