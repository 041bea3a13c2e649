import WebSocket from 'ws';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { errorMessage } from './errors.js';

export type OpenWebSocket = () => Promise<WebSocket>;

/** Websockets handed back beyond the spares are kept this long, for the next connections. */
const IDLE_EXTRA_MS = 10_000;
/** At most this many idle websockets are kept, however many connections handed theirs back. */
const MAX_IDLE = 8;

interface Kept {
  ws: WebSocket;
  /** Stops watching the websocket (its close listener, its idle timer). */
  release: () => void;
}

/**
 * Data websockets opened ahead of time for an entrance, so a new connection does not wait
 * for a websocket handshake. Keeps `spares` ready; a connection that finds none opens its
 * own at once, so a burst of connections is served in parallel, with no cap. Websockets
 * handed back (extension `websocket-reuse`) are kept too, up to MAX_IDLE, the extras for
 * IDLE_EXTRA_MS: the most recently handed back is used first.
 */
export class WebSocketPool {
  readonly #open: OpenWebSocket;
  readonly #target: number;
  readonly #logger: Logger;
  readonly #idle: Kept[] = [];
  readonly #backoff = new Backoff({ initialMs: 500, maxMs: 30_000 });
  #filling = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(open: OpenWebSocket, options: { spares?: number; logger: Logger }) {
    this.#open = open;
    this.#target = options.spares ?? 1;
    this.#logger = options.logger;
  }

  /** Opens the first spare; resolves when it is ready, rejects if it cannot be opened. */
  async start(): Promise<void> {
    if (this.#target === 0) return;
    this.#keep(await this.#open());
    this.#fill();
  }

  /** Starts keeping spares in the background, for an entrance that must not wait for them. */
  prime(): void {
    this.#fill();
  }

  /** A websocket for one new connection: a live idle one if there is one, else a fresh one. */
  async take(): Promise<WebSocket> {
    let found: WebSocket | undefined;
    let kept: Kept | undefined;
    while ((kept = this.#idle.pop())) {
      kept.release();
      if (kept.ws.readyState === WebSocket.OPEN) {
        found = kept.ws;
        break;
      }
    }
    // The replacement's handshake waits for this turn of the event loop to end, so that the
    // new connection's own first frames are written before the handshake's work.
    if (this.#idle.length < this.#target) setImmediate(() => this.#fill());
    return found ?? this.#open();
  }

  /** Hands back an unused or reusable websocket (or one that arrived unasked) to keep idle. */
  offer(ws: WebSocket): void {
    if (this.#closed || this.#idle.length >= Math.max(this.#target, MAX_IDLE) || ws.readyState !== WebSocket.OPEN) {
      ws.close(1000);
      return;
    }
    this.#keep(ws);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const kept of this.#idle.splice(0)) {
      kept.release();
      kept.ws.close(1000);
    }
  }

  #keep(ws: WebSocket): void {
    if (this.#closed) {
      ws.close(1000);
      return;
    }
    const onClose = () => {
      const index = this.#idle.findIndex((kept) => kept.ws === ws);
      if (index === -1) return;
      this.#idle[index]!.release();
      this.#idle.splice(index, 1);
      this.#fill();
    };
    // An extra past the spares that nobody took for a while is closed; the spares stay.
    const timer = this.#idle.length >= this.#target
      ? setTimeout(() => {
          if (this.#idle.length <= this.#target) return;
          onClose();
          ws.close(1000);
        }, IDLE_EXTRA_MS).unref()
      : undefined;
    ws.once('close', onClose);
    this.#idle.push({
      ws,
      release: () => {
        clearTimeout(timer);
        ws.off('close', onClose);
      },
    });
  }

  #fill(): void {
    if (this.#filling || this.#closed || this.#retryTimer || this.#idle.length >= this.#target) return;
    this.#filling = true;
    this.#open().then(
      (ws) => {
        this.#filling = false;
        this.#backoff.reset();
        this.#keep(ws);
        this.#fill();
      },
      (err) => {
        this.#filling = false;
        if (this.#closed) return;
        const delay = this.#backoff.next();
        this.#logger.warn({ err: errorMessage(err), retryInMs: delay }, 'could not open a spare data websocket');
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#fill();
        }, delay);
      },
    );
  }
}
