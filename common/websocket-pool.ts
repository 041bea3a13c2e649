import WebSocket from 'ws';
import type { Logger } from 'pino';
import { Backoff } from './backoff.js';
import { errorMessage } from './errors.js';

export type OpenWebSocket = () => Promise<WebSocket>;

/**
 * Data websockets opened ahead of time for an entrance, so a new connection does not wait
 * for a websocket handshake. Keeps `spares` ready; a connection that finds none opens its
 * own at once, so a burst of connections is served in parallel, with no cap.
 */
export class WebSocketPool {
  readonly #open: OpenWebSocket;
  readonly #target: number;
  readonly #logger: Logger;
  readonly #spares: WebSocket[] = [];
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

  /** A websocket for one new connection: a live spare if there is one, else a fresh one. */
  async take(): Promise<WebSocket> {
    let spare: WebSocket | undefined;
    while ((spare = this.#spares.shift())) {
      if (spare.readyState === WebSocket.OPEN) break;
    }
    // The replacement's handshake waits for this turn of the event loop to end, so that the
    // new connection's own first frames are written before the handshake's work.
    setImmediate(() => this.#fill());
    return spare ?? this.#open();
  }

  /** Hands back an unused websocket (or one that arrived unasked) to keep as a spare. */
  offer(ws: WebSocket): void {
    if (this.#closed || this.#spares.length >= this.#target || ws.readyState !== WebSocket.OPEN) {
      ws.close(1000);
      return;
    }
    this.#keep(ws);
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const ws of this.#spares.splice(0)) ws.close(1000);
  }

  #keep(ws: WebSocket): void {
    if (this.#closed) {
      ws.close(1000);
      return;
    }
    this.#spares.push(ws);
    ws.once('close', () => {
      const index = this.#spares.indexOf(ws);
      if (index === -1) return;
      this.#spares.splice(index, 1);
      this.#fill();
    });
  }

  #fill(): void {
    if (this.#filling || this.#closed || this.#retryTimer || this.#spares.length >= this.#target) return;
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
