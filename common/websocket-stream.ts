import { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { DATA_FIRST_FRAME, EOF_FRAME, EXIT_REFUSED_CLOSE_CODE, MAX_FRAME_BYTES } from './protocol.js';

const BINARY = { binary: true } as const;

/** Close codes that end a data websocket cleanly; anything else is an abort. */
const CLEAN_CLOSE_CODES = new Set([1000, 1001, 1005, EXIT_REFUSED_CLOSE_CODE]);
/** A close reason is at most 123 bytes (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

export interface WebSocketStreamOptions {
  halfClose: boolean;
  /**
   * Extension `websocket-reuse` (needs `halfClose`): once `eof` went both ways the websocket
   * is free for the next connection. It is detached from this stream and handed here,
   * instead of being closed.
   */
  onReusable?: (ws: WebSocket) => void;
}

/**
 * One tunnelled connection's data websocket as a byte stream. Binary frames carry the bytes.
 * With `halfClose` (negotiated extension) ending the writable side sends a TEXT `eof` frame
 * and a received `eof` ends the readable side; without it, as the original, ending the
 * writable side closes the websocket, which ends the whole connection.
 */
export class WebSocketStream extends Duplex {
  readonly #ws: WebSocket;
  readonly #halfClose: boolean;
  readonly #onReusable: ((ws: WebSocket) => void) | undefined;
  #eofSent = false;
  #eofReceived = false;
  /** The websocket went on to another connection: this stream must not touch it again. */
  #released = false;
  /** Why the far end could not connect the exit, when it said so (EXIT_REFUSED_CLOSE_CODE). */
  exitRefusal: string | undefined;

  /** The entrance's side of a new connection: announces it with the `pasten` frame the exit waits for. */
  static forEntrance(ws: WebSocket, options: WebSocketStreamOptions): WebSocketStream {
    ws.send(DATA_FIRST_FRAME);
    return new WebSocketStream(ws, options);
  }

  constructor(ws: WebSocket, options: WebSocketStreamOptions) {
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.#ws = ws;
    this.#halfClose = options.halfClose;
    this.#onReusable = options.halfClose ? options.onReusable : undefined;
    ws.on('message', this.#onMessage);
    ws.on('close', this.#onClose);
    ws.on('error', this.#onError);
  }

  #onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
    if (!isBinary) {
      if (!this.#halfClose || data.toString() !== EOF_FRAME) return;
      this.#eofReceived = true;
      this.push(null);
      this.#releaseIfDone();
      return;
    }
    const chunk = data as Buffer;
    // The original sends an empty frame before closing: nothing to deliver.
    if (chunk.length === 0 || this.readableEnded) return;
    if (!this.push(chunk)) this.#ws.pause();
  };

  #onClose = (code: number, reason: Buffer): void => {
    if (code === EXIT_REFUSED_CLOSE_CODE) this.exitRefusal = reason.toString() || 'the exit could not be connected';
    if (!CLEAN_CLOSE_CODES.has(code)) {
      this.destroy(new Error(`data websocket closed abnormally (code ${code})`));
      return;
    }
    // Bytes already received must still reach the reader before the stream goes away.
    if (this.readableEnded) {
      this.destroy();
      return;
    }
    this.once('end', () => this.destroy());
    this.push(null);
  };

  /** Tells the entrance the exit could not be connected (extension half-close only), then closes. */
  refuseExit(reason: string): void {
    if (!this.#halfClose) {
      this.destroy();
      return;
    }
    let text = reason;
    while (Buffer.byteLength(text) > MAX_REASON_BYTES) text = text.slice(0, -1);
    this.#ws.close(EXIT_REFUSED_CLOSE_CODE, text);
  }

  #onError = (err: Error): void => {
    this.destroy(err);
  };

  /**
   * Both directions ended cleanly: nothing more of this connection can arrive, so the frames
   * that follow (the next `pasten`) belong to the websocket's next owner.
   */
  #releaseIfDone(): void {
    if (!this.#onReusable || !this.#eofSent || !this.#eofReceived || this.#released || this.destroyed) return;
    this.#released = true;
    this.#detach();
    if (this.#ws.isPaused) this.#ws.resume();
    this.#onReusable(this.#ws);
  }

  #detach(): void {
    this.#ws.off('message', this.#onMessage);
    this.#ws.off('close', this.#onClose);
    this.#ws.off('error', this.#onError);
  }

  override _read(): void {
    if (!this.#released && this.#ws.isPaused) this.#ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#send(chunk, callback);
  }

  /** Queued chunks are framed where they lie: joining them first would copy every byte again. */
  override _writev(
    chunks: Array<{ chunk: Buffer }>,
    callback: (err?: Error | null) => void,
  ): void {
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) this.#send(chunks[i]!.chunk);
    this.#send(chunks[last]!.chunk, callback);
  }

  /** Frames of at most MAX_FRAME_BYTES; the callback waits for the last one to reach the socket. */
  #send(data: Buffer, callback?: (err?: Error | null) => void): void {
    // The far end is closing: it reads nothing more either way, and its close code, on its
    // way, says why (an exit refused, an abort). A write error now would hide that.
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback?.();
      return;
    }
    // A socket read is never larger than a frame: no view to make per chunk then.
    if (data.length <= MAX_FRAME_BYTES) {
      this.#sendFrame(data, callback);
      return;
    }
    for (let offset = 0; offset < data.length; offset += MAX_FRAME_BYTES) {
      const last = offset + MAX_FRAME_BYTES >= data.length;
      this.#sendFrame(data.subarray(offset, offset + MAX_FRAME_BYTES), last ? callback : undefined);
    }
  }

  /**
   * A frame whose bytes the kernel took at once is done now, not on ws's callback a tick
   * later: nothing refers to the chunk any more, and `writableLength` says so to a writer
   * that wants to use the chunk's memory again (recycled reads). A write that fails later
   * still ends the stream, through the websocket's close.
   */
  #sendFrame(data: Buffer, callback?: (err?: Error | null) => void): void {
    if (!callback) {
      this.#ws.send(data, BINARY);
      return;
    }
    let pending = true;
    const done = (err?: Error | null) => {
      if (!pending) return;
      pending = false;
      callback(err);
    };
    this.#ws.send(data, BINARY, done);
    if (this.#ws.bufferedAmount === 0) done();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.#ws.readyState !== WebSocket.OPEN) {
      callback();
      return;
    }
    if (this.#halfClose) {
      this.#ws.send(EOF_FRAME, { binary: false }, callback);
      this.#eofSent = true;
      this.#releaseIfDone();
    } else {
      this.#ws.close(1000);
      callback();
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.#released) {
      callback(err);
      return;
    }
    this.#detach();
    // Keep a listener so a late socket error cannot crash the process.
    this.#ws.on('error', () => {});
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      if (err) this.#ws.terminate();
      else this.#ws.close(1000);
    }
    callback(err);
  }
}
