import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { decodeFrame, encodeMessage, encodeResponse } from './channel-codec.js';
import { NetunnelError, errorMessage } from './errors.js';
import { isMessageType, parseMessageData } from './protocol.js';
import type { ChannelMessageDoc, MessageDataByType, MessageTypeName } from './protocol.js';

type Handler<T extends MessageTypeName> = (data: MessageDataByType[T]) => Promise<void> | void;

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const MAX_IDENTIFIER = 0x7fffffff;

/**
 * Request/response over the channel websocket (netunnel-wire.md §2.3): BSON binary frames,
 * each request answered by a response carrying its `_identifier`. Unlike the original, a
 * request does not wait for ever: it fails after a timeout or when the channel closes.
 * Emits 'close' once, when the websocket is gone.
 */
export class Channel extends EventEmitter {
  readonly #ws: WebSocket;
  readonly #logger: Logger;
  readonly #requestTimeoutMs: number;
  readonly #handlers = new Map<MessageTypeName, Handler<never>>();
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed = false;

  constructor(ws: WebSocket, options: { logger: Logger; requestTimeoutMs?: number }) {
    super();
    this.#ws = ws;
    this.#logger = options.logger;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    ws.on('message', (data, isBinary) => {
      // The original ignores anything but binary frames; so do we.
      if (isBinary) this.#onFrame(data as Buffer);
    });
    ws.on('error', (err) => this.#logger.debug({ err }, 'channel websocket error'));
    ws.once('close', () => this.#onClose());
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Resolves once the websocket is gone (at once if it already is). */
  whenClosed(): Promise<void> {
    return this.#closed ? Promise.resolve() : new Promise((resolve) => this.once('close', () => resolve()));
  }

  handle<T extends MessageTypeName>(type: T, handler: Handler<T>): void {
    this.#handlers.set(type, handler as Handler<never>);
  }

  request<T extends MessageTypeName>(type: T, data: MessageDataByType[T], timeoutMs = this.#requestTimeoutMs): Promise<void> {
    if (this.#closed) return Promise.reject(closedError());
    const id = this.#nextId;
    this.#nextId = id >= MAX_IDENTIFIER ? 1 : id + 1;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new NetunnelError('TIMEOUT', `the peer did not answer ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#ws.send(encodeMessage(id, type, { ...data }), { binary: true });
    });
  }

  /** Closes the websocket; pending requests fail with CHANNEL_CLOSED. */
  close(): void {
    if (this.#ws.readyState === WebSocket.OPEN || this.#ws.readyState === WebSocket.CONNECTING) {
      this.#ws.close(1000);
    }
    // A peer that never answers the close handshake must not hold us.
    setTimeout(() => this.#ws.terminate(), 5000).unref();
  }

  terminate(): void {
    this.#ws.terminate();
  }

  #onFrame(frame: Buffer): void {
    let doc;
    try {
      doc = decodeFrame(frame);
    } catch (err) {
      this.#logger.warn({ err: errorMessage(err) }, 'ignoring an undecodable channel frame');
      return;
    }
    if (doc._type === 'response') {
      const pending = this.#pending.get(doc._identifier);
      if (!pending) return;
      this.#pending.delete(doc._identifier);
      clearTimeout(pending.timer);
      if (doc.error === undefined) pending.resolve();
      else pending.reject(new NetunnelError('REMOTE_ERROR', doc.error));
      return;
    }
    void this.#answer(doc);
  }

  async #answer(doc: ChannelMessageDoc): Promise<void> {
    let error: string | undefined;
    try {
      await this.#dispatch(doc.message_type.__Messages__, doc.data);
    } catch (err) {
      error = errorMessage(err);
    }
    if (this.#ws.readyState === WebSocket.OPEN) {
      this.#ws.send(encodeResponse(doc._identifier, error), { binary: true });
    }
  }

  async #dispatch(type: string, rawData: Record<string, unknown>): Promise<void> {
    if (!isMessageType(type)) throw new Error(`unknown message type ${type}`);
    const handler = this.#handlers.get(type);
    // As the original server, which handles no message: a known one is answered OK (§2.3).
    if (!handler) return;
    const data = parseMessageData(type, rawData);
    if (typeof data === 'string') throw new Error(data);
    await (handler as Handler<typeof type>)(data);
  }

  #onClose(): void {
    this.#closed = true;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(closedError());
    }
    this.#pending.clear();
    this.emit('close');
  }
}

function closedError(): NetunnelError {
  return new NetunnelError('CHANNEL_CLOSED', 'the channel is closed');
}
