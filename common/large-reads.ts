import net from 'node:net';
import { NextReadBuffer } from './next-read-buffer.js';
import { setOnread } from './socket-onread.js';
import type { OnRead } from './socket-onread.js';

/** As much as a streaming socket reads at once: four full websocket data frames. */
const STREAMING_READ_BYTES = 256 * 1024;
/** A read of at least this much says the socket streams; a shorter one says it went quiet. */
const STREAMING_THRESHOLD = 64 * 1024;

/**
 * Where every quiet socket reads. What lands here is copied out at once, so thousands of idle
 * connections hold no read memory, and a small chunk never pins a large buffer.
 */
const shared = Buffer.allocUnsafe(STREAMING_READ_BYTES);

/**
 * A socket that carries large framed messages (a websocket, an SSH connection) reads up to
 * 256 KiB at once instead of Node's 64 KiB. A 64 KiB websocket data frame and its header do
 * not fit in one 64 KiB read, so ws's receiver copied every frame together from two; with
 * reads four frames long, most frames lie whole in one read and ws hands out views of it.
 * ssh2 likewise joins an SSH packet that straddles two reads before it decrypts it, and
 * longer reads leave fewer packets straddling. Measured (bench/RESULTS.md): about a fifth
 * less CPU on the receiving side of a forward tunnel, a tenth less in the SSH front door.
 *
 * A streaming socket reads into a fresh buffer each time, handed on as it is; a quiet one
 * (a read under 64 KiB) reads into the shared buffer, and what it read is copied. The fresh
 * buffer set up after a burst's last read goes back once the socket idles (next-read-buffer.ts).
 */
class LargeReads implements OnRead {
  #socket: net.Socket | undefined;
  readonly #reads = new NextReadBuffer(shared);

  /** net.connect wants the reads before the socket exists: they learn it right after. */
  attach(socket: net.Socket): net.Socket {
    this.#socket = socket;
    return this.#reads.attach(socket);
  }

  readonly buffer = (): Buffer => this.#reads.next;

  readonly callback = (bytes: number, buffer: Uint8Array): boolean => {
    const chunk = (buffer as Buffer).subarray(0, bytes);
    const streaming = bytes >= STREAMING_THRESHOLD;
    this.#reads.use(streaming ? Buffer.allocUnsafe(STREAMING_READ_BYTES) : shared);
    return this.#socket!.push(buffer === shared || !streaming ? copyOf(chunk) : chunk);
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
  return reads.attach(net.connect({ ...options, onread: reads }));
}

/**
 * Gives an accepted socket (the server's side of a websocket upgrade, an SSH front-door
 * connection) the reads of connectWithLargeReads; false where this Node (or a TLS socket)
 * does not allow it, and the socket keeps Node's reads.
 */
export function useLargeReads(socket: net.Socket): boolean {
  const reads = new LargeReads();
  return setOnread(reads.attach(socket), reads);
}
