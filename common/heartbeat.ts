import type WebSocket from 'ws';

interface Watched {
  /** When the sweep last found the peer active. */
  lastSeen: number;
  /** Set by every frame from the peer; the sweep turns it into `lastSeen`, so a frame costs no clock read. */
  active: boolean;
  pinged: boolean;
  /** When we last told the peer, with an unsolicited pong, that we are alive though not reading. */
  lastPong: number;
}

/**
 * Silence that is flow control, not a dead peer: we stopped reading the websocket (its reader
 * is slow, so the peer's frames, pongs included, wait unread in the socket), or the peer
 * stopped reading ours (our frames, pings included, wait in our queue). A stalled reader
 * must stall the writer, as with TCP, not lose the connection.
 */
function flowControlled(ws: WebSocket): boolean {
  return ws.isPaused || ws.bufferedAmount > 0;
}

/**
 * Liveness of websockets: after `intervalMs` without a frame from the peer we ping; after
 * `timeoutMs` more without one the websocket is terminated, which releases what hangs on it.
 * A websocket held up by flow control is not judged; while we do not read one, we send the
 * peer an unsolicited pong (RFC 6455 §5.5.3) every `intervalMs`, since our answers to its
 * pings wait behind what we have not read.
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
    const entry: Watched = { lastSeen: Date.now(), active: false, pinged: false, lastPong: 0 };
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
      if (entry.active || flowControlled(ws)) {
        entry.active = false;
        entry.pinged = false;
        entry.lastSeen = now;
        if (ws.isPaused && ws.bufferedAmount === 0 && now - entry.lastPong >= this.#intervalMs) {
          entry.lastPong = now;
          ws.pong();
        }
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
