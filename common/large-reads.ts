import net from 'node:net';
import tls from 'node:tls';

/** As much as a streaming websocket's socket reads at once: four full data frames. */
const STREAMING_READ_BYTES = 256 * 1024;
/** A read of at least this much says the socket streams; a shorter one says it went quiet. */
const STREAMING_THRESHOLD = 64 * 1024;

/**
 * Where every quiet socket reads. What lands here is copied out at once, so thousands of idle
 * websockets hold no read memory, and a small chunk never pins a large buffer.
 */
const shared = Buffer.allocUnsafe(STREAMING_READ_BYTES);

/**
 * A websocket's socket reads up to 256 KiB at once instead of Node's 64 KiB. A 64 KiB data
 * frame and its header do not fit in one 64 KiB read, so ws's receiver copied every frame
 * together from two; with reads four frames long, most frames lie whole in one read and
 * ws hands out views of it. Measured (bench/RESULTS.md): about a fifth less CPU on the
 * receiving side of a forward tunnel.
 *
 * A streaming socket reads into a fresh buffer each time, handed on as it is; a quiet one
 * (a read under 64 KiB) reads into the shared buffer, and what it read is copied.
 *
 * The shape of Node's `onread` option; the socket is known only once it exists.
 */
class LargeReads {
  socket: net.Socket | undefined;
  #next = shared;

  readonly buffer = (): Buffer => this.#next;

  /** false stops reading until the socket is resumed, as Node's own reads do. */
  readonly callback = (bytes: number, buffer: Uint8Array): boolean => {
    const chunk = (buffer as Buffer).subarray(0, bytes);
    const streaming = bytes >= STREAMING_THRESHOLD;
    this.#next = streaming ? Buffer.allocUnsafe(STREAMING_READ_BYTES) : shared;
    return this.socket!.push(buffer === shared || !streaming ? copyOf(chunk) : chunk);
  };
}

/**
 * A copy in memory of its own, as Node's reads are: a slice of Buffer's shared 8 KiB pool
 * would keep the whole slab alive while anything holds the chunk.
 */
function copyOf(chunk: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(chunk.length);
  chunk.copy(copy);
  return copy;
}

/** Connects a TCP socket for a websocket (the client's side), reading as LargeReads does. */
export function connectWithLargeReads(options: net.NetConnectOpts): net.Socket {
  const reads = new LargeReads();
  const socket = net.connect({ ...options, onread: reads });
  reads.socket = socket;
  return socket;
}

/**
 * Gives an accepted socket (the server's side of a websocket upgrade) the reads of
 * connectWithLargeReads. Node offers `onread` only to sockets it connects; an accepted socket
 * has the same slots, unnamed, and its handle the same call. Where they are missing (another
 * Node, a TLS socket) the socket keeps Node's own reads: false.
 */
export function useLargeReads(socket: net.Socket): boolean {
  if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return false;
  const slots = onreadSlots(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle;
  if (!slots || typeof handle?.useUserBuffer !== 'function') return false;
  const reads = new LargeReads();
  reads.socket = socket;
  const first = reads.buffer();
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = first;
  target[slots.generator] = reads.buffer;
  target[slots.callback] = reads.callback;
  handle.useUserBuffer(first);
  return true;
}

/** The symbols net.Socket keeps its `onread` option under; each is null until one is set. */
function onreadSlots(socket: net.Socket): { buffer: symbol; generator: symbol; callback: symbol } | undefined {
  const symbols = Object.getOwnPropertySymbols(socket);
  const named = (description: string) => symbols.find((symbol) => symbol.description === description);
  const buffer = named('kBuffer');
  const generator = named('kBufferGen');
  const callback = named('kBufferCb');
  if (!buffer || !generator || !callback) return undefined;
  const slots = socket as unknown as Record<symbol, unknown>;
  if (slots[buffer] !== null || slots[generator] !== null || slots[callback] !== null) return undefined;
  return { buffer, generator, callback };
}
