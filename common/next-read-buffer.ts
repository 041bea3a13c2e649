/**
 * Where a socket reads next, and read buffers of their own given back when sockets go quiet.
 *
 * A streaming socket reads into memory of its own (large-reads.ts, recycled-reads.ts), and
 * Node takes the buffer for a socket's next read right after each read. So the buffer set
 * up after a burst's last read stays with the socket while it idles: 64 to 256 KiB for
 * each connection that once streamed, where Node's own reads keep nothing. A sweep, once a
 * second while any socket holds one, points each socket that read nothing since the last
 * sweep back at the shared buffer, and the memory goes.
 */

import type net from 'node:net';
import { currentReadBuffer, replaceReadBuffer } from './socket-onread.js';

/** How often the held buffers are looked at: a socket idle for one to two of these gives its buffer back. */
const SWEEP_MS = 1000;

/**
 * Each give-back leaves about 50 bytes with the socket's handle (socket-onread.ts): after this
 * many, a socket that keeps bursting and pausing keeps its buffer instead.
 */
const MAX_GIVE_BACKS = 1000;

/**
 * Where one socket's next read lands: a buffer shared by many sockets, or one of its own,
 * which the sweep gives back once the socket idles.
 */
export class NextReadBuffer {
  readonly #shared: Buffer;
  #next: Buffer;
  #socket: net.Socket | undefined;
  #readSinceSweep = false;
  #giveBacks = 0;

  constructor(shared: Buffer) {
    this.#shared = shared;
    this.#next = shared;
  }

  /** The buffer may be set before the socket exists (net.connect's onread): it learns it here. */
  attach(socket: net.Socket): net.Socket {
    this.#socket = socket;
    bySocket.set(socket, this.#shared);
    return socket;
  }

  get next(): Buffer {
    return this.#next;
  }

  /** After a read: the next one lands in `buffer` (the shared one, or one of this socket's own). */
  use(buffer: Buffer): void {
    this.#next = buffer;
    if (buffer === this.#shared) return;
    this.#readSinceSweep = true;
    if (this.#giveBacks < MAX_GIVE_BACKS) watched.add(this);
    // unref: a sweep must never keep a process alive.
    timer ??= setInterval(sweepAll, SWEEP_MS).unref();
  }

  /** False once the socket holds no buffer of its own (given back, or gone): it is let go then. */
  sweep(): boolean {
    const socket = this.#socket;
    if (this.#next === this.#shared || !socket || socket.destroyed) return false;
    if (this.#readSinceSweep) {
      this.#readSinceSweep = false;
      return true;
    }
    if (replaceReadBuffer(socket, this.#shared)) {
      this.#next = this.#shared;
      this.#giveBacks++;
    }
    return false;
  }
}

const watched = new Set<NextReadBuffer>();
let timer: NodeJS.Timeout | undefined;
/** Each socket's shared buffer, to tell where its next read lands. */
const bySocket = new WeakMap<net.Socket, Buffer>();

/** Whether the socket's next read lands in a buffer of its own, as Node has it (for tests and diagnostics). */
export function holdsOwnReadBuffer(socket: net.Socket): boolean {
  const shared = bySocket.get(socket);
  const next = currentReadBuffer(socket);
  return shared !== undefined && next !== undefined && next !== shared;
}

function sweepAll(): void {
  for (const buffer of watched) if (!buffer.sweep()) watched.delete(buffer);
  if (watched.size > 0) return;
  clearInterval(timer);
  timer = undefined;
}
