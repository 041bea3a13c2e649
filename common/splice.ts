import net from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeRecycled } from './recycled-reads.js';
import type { Traffic } from './traffic.js';

export interface SpliceResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  /** Bytes read from `b` and written to `a`. */
  bToA: number;
  /** The first error either side reported, if the splice ended by an abort. */
  error?: Error;
}

export interface SpliceOptions {
  /** How long a side whose partner went away may take to flush its queued writes. */
  lingerMs?: number;
  /** Counts this connection and its bytes; `a` is the entrance's side, `b` the exit's. */
  traffic?: Traffic;
}

const DEFAULT_LINGER_MS = 10_000;

/**
 * Joins two byte streams both ways: every byte in order, a reader that stops reading pauses
 * the writer's source, EOF is passed on only after queued writes, and the streams are
 * destroyed when both directions are done, when one of them fails (the other is destroyed at
 * once), or when one goes away (the other flushes what it has, then is destroyed).
 * Resolves once both streams are closed.
 */
export function splice(a: Duplex, b: Duplex, options: SpliceOptions = {}): Promise<SpliceResult> {
  const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  const result: SpliceResult = { aToB: 0, bToA: 0 };
  const traffic = options.traffic;
  const closed = traffic?.connectionOpened((error) => {
    abort(a, error);
    abort(b, error);
  });
  pump(a, b, (n) => {
    result.aToB += n;
    if (traffic) traffic.upstreamBytes += n;
  });
  pump(b, a, (n) => {
    result.bToA += n;
    if (traffic) traffic.downstreamBytes += n;
  });

  return new Promise((resolve) => {
    let open = 2;
    const onClose = (side: Duplex, other: Duplex) => () => {
      const error = side.errored ?? undefined;
      if (error) result.error ??= error;
      // An abort travels on as an abort: a data websocket is terminated, not closed cleanly,
      // and a TCP end is reset, so that its peer cannot take a cut-short stream for a whole one.
      if (error) abort(other, error);
      else release(other, lingerMs);
      if (--open > 0) return;
      closed?.();
      resolve(result);
    };
    for (const [side, other] of [[a, b], [b, a]] as const) {
      // Errors are reported through `result`; the listener keeps them from being fatal.
      side.on('error', () => {});
      side.once('close', onClose(side, other));
    }
  });
}

function pump(src: Duplex, dst: Duplex, count: (bytes: number) => void): void {
  if (!pipeRecycled(src, dst, count)) {
    src.on('data', (chunk: Buffer) => {
      count(chunk.length);
      if (dst.destroyed) return;
      if (!dst.write(chunk)) src.pause();
    });
  }
  dst.on('drain', () => src.resume());
  src.once('end', () => {
    if (!dst.destroyed && !dst.writableEnded) dst.end();
  });
}

/** Ends `stream` as an abort: a TCP socket is reset, any other stream destroyed with `error`. */
export function abort(stream: { destroy(error?: Error): void }, error: Error): void {
  if (stream instanceof net.Socket && !stream.destroyed && !stream.connecting) stream.resetAndDestroy();
  else stream.destroy(error);
}

/** The partner is gone: flush and end this side, discard what it still sends, then drop it. */
function release(stream: Duplex, lingerMs: number): void {
  if (stream.destroyed) return;
  stream.resume();
  if (stream.writableFinished) {
    stream.destroy();
    return;
  }
  const timer = setTimeout(() => stream.destroy(), lingerMs);
  stream.once('finish', () => stream.destroy());
  stream.once('close', () => clearTimeout(timer));
  if (!stream.writableEnded) stream.end();
}
