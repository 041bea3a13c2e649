import type WebSocket from 'ws';

interface Watched {
  /** When the sweep last found the peer active. */
  lastSeen: number;
  /** Set by every frame from the peer; the sweep turns it into `lastSeen`, so a frame costs no clock read. */
  active: boolean;
  pinged: boolean;
}

/**
 * Liveness of websockets: after `intervalMs` without a frame from the peer we ping; after
 * `timeoutMs` more without one the websocket is terminated, which releases what hangs on it.
 * One sweeping timer serves every websocket, so ten thousand idle connections cost one timer.
 */
export class Heartbeat {
  readonly #watched = new Map<WebSocket, Watched>();
  readonly #intervalMs: number;
  readonly #timeoutMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { intervalMs: number; timeoutMs: number }) {
    this.#intervalMs = options.intervalMs;
    this.#timeoutMs = options.timeoutMs;
  }

  watch(ws: WebSocket): void {
    const entry: Watched = { lastSeen: Date.now(), active: false, pinged: false };
    const seen = () => {
      entry.active = true;
    };
    this.#watched.set(ws, entry);
    ws.on('message', seen);
    ws.on('ping', seen);
    ws.on('pong', seen);
    ws.once('close', () => {
      this.#watched.delete(ws);
      if (this.#watched.size === 0) this.#stopTimer();
    });
    this.#startTimer();
  }

  get size(): number {
    return this.#watched.size;
  }

  close(): void {
    this.#stopTimer();
    this.#watched.clear();
  }

  #sweep(): void {
    const now = Date.now();
    for (const [ws, entry] of this.#watched) {
      if (entry.active) {
        entry.active = false;
        entry.pinged = false;
        entry.lastSeen = now;
        continue;
      }
      const silent = now - entry.lastSeen;
      if (silent >= this.#intervalMs + this.#timeoutMs) {
        ws.terminate();
      } else if (silent >= this.#intervalMs && !entry.pinged) {
        entry.pinged = true;
        ws.ping();
      }
    }
  }

  #startTimer(): void {
    if (this.#timer) return;
    const period = Math.max(50, Math.min(this.#intervalMs, this.#timeoutMs) / 4);
    this.#timer = setInterval(() => this.#sweep(), period);
    this.#timer.unref();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
