import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import tls from 'node:tls';
import { NextReadBuffer } from './next-read-buffer.js';
import { setOnread } from './socket-onread.js';
import type { OnRead } from './socket-onread.js';
import { WebSocketStream } from './websocket-stream.js';

/** As much as a stream socket reads at once. */
const READ_BYTES = 64 * 1024;
/** A read shorter than this says the connection is not streaming: its own buffer goes back. */
const STREAMING_READ_BYTES = 16 * 1024;

/**
 * Where every socket reads while it is not streaming (idle, interactive, or its writer keeps
 * chunks). Each chunk read here is copied before it goes anywhere, so no socket's next read
 * can overwrite bytes still queued. Thousands of quiet connections then hold no read memory,
 * as with Node's own reads; a buffer of its own per socket would keep a touched page each.
 */
const shared = Buffer.allocUnsafe(READ_BYTES);

const readers = new WeakMap<net.Socket, RecycledReads>();

/**
 * A connected TCP socket's reads, landing in one buffer used again and again, where a stream
 * socket gets a fresh 64 KiB from the allocator for every read. A relay hands each read on
 * at once, so the buffer stays warm in the cache; it is replaced only when the writer kept
 * the chunk. Through a pair of Node relays this is about a third less CPU per byte
 * (bench/RESULTS.md). Node offers it (`onread`) only for sockets it connects; accepted
 * ones get it through setOnread (socket-onread.ts).
 *
 * A socket earns a buffer of its own with a read that fills the shared one (more was
 * waiting: it streams), and gives it back with a short read, or once it idles
 * (next-read-buffer.ts).
 *
 * The socket emits no 'data': its bytes go where `pipeTo` sends them (splice does).
 */
class RecycledReads {
  /** The buffer Node reads into next: it asks after every read. */
  readonly #reads = new NextReadBuffer(shared);
  /** Set before the socket first reads: it starts paused, and only `pipeTo` resumes it. */
  #sink: (chunk: Buffer) => boolean = () => false;

  /** Where the next read lands and who takes it, as net.connect's `onread` option. */
  readonly onread: OnRead = {
    buffer: () => this.#reads.next,
    // false stops reading until the socket is resumed.
    callback: (bytes, buffer) => this.#sink((buffer as Buffer).subarray(0, bytes)),
  };

  pipeTo(socket: net.Socket, dst: Writable, count: (bytes: number) => void): void {
    this.#reads.attach(socket);
    const releases = releasesWrittenChunks(dst);
    this.#sink = (chunk) => {
      count(chunk.length);
      if (dst.destroyed) return true;
      if (chunk.buffer === shared.buffer) {
        if (releases && chunk.length === READ_BYTES) this.#reads.use(Buffer.allocUnsafe(READ_BYTES));
        return dst.write(Buffer.from(chunk));
      }
      const more = dst.write(chunk);
      // Queued, so still referenced: the next read needs memory of its own.
      if (dst.writableLength > 0) this.#reads.use(Buffer.allocUnsafe(READ_BYTES));
      // A short read says it went quiet; a long one keeps the buffer it landed in.
      else this.#reads.use(chunk.length < STREAMING_READ_BYTES ? shared : this.#reads.next);
      return more;
    };
    socket.resume();
  }
}

/**
 * Writers that hold a chunk only while it is queued: once `writableLength` is back to 0
 * nothing refers to it. A plain TCP socket, once the kernel took the bytes; a data
 * websocket, which says so when its socket did (and masks into a copy). Any other stream
 * (a PassThrough, an SSH channel) might keep a reference, so it gets a copy.
 */
function releasesWrittenChunks(dst: Writable): boolean {
  if (dst instanceof WebSocketStream) return true;
  return dst instanceof net.Socket && !(dst instanceof tls.TLSSocket);
}

/** Connects a TCP socket whose reads are recycled; it starts paused, until `pipeRecycled`. */
export function connectRecycled(options: net.NetConnectOpts & { host: string; port: number }): net.Socket {
  const reader = new RecycledReads();
  const socket = net.connect({ ...options, onread: reader.onread });
  readers.set(socket, reader);
  socket.pause();
  return socket;
}

/**
 * Gives an accepted TCP socket, still paused (a server's `pauseOnConnect`), recycled reads
 * until `pipeRecycled`; false where this Node does not allow it, and the socket keeps Node's reads.
 */
export function recycleAcceptedReads(socket: net.Socket): boolean {
  // A socket already read from would have its next bytes overtake the ones Node holds.
  if (socket.readableFlowing === true || socket.readableLength > 0) return false;
  const reader = new RecycledReads();
  if (!setOnread(socket, reader.onread)) return false;
  readers.set(socket, reader);
  return true;
}

/** Sends `src`'s reads to `dst` if `src` is a recycled socket; false if it is a plain stream. */
export function pipeRecycled(src: Readable, dst: Writable, count: (bytes: number) => void): boolean {
  if (!(src instanceof net.Socket)) return false;
  const reader = readers.get(src);
  if (!reader) return false;
  reader.pipeTo(src, dst, count);
  return true;
}
