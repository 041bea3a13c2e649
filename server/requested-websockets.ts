import type WebSocket from 'ws';
import type { Channel } from '../common/channel.js';
import { NetunnelError } from '../common/errors.js';
import { MessageType } from '../common/protocol.js';

/** How long the server waits for the websocket it asked the client to open. */
const WEBSOCKET_ARRIVAL_TIMEOUT_MS = 10_000;

/**
 * Data websockets a reverse tunnel's server side asks its client for: a NEW_CONNECTION
 * request on the channel, then the websocket the client opens to the tunnel's connect route.
 * Websockets arrive unlabelled, so they are handed to the oldest waiting request.
 */
export class RequestedWebSockets {
  readonly #waiters: Array<(ws: WebSocket) => void> = [];

  constructor(
    private readonly channel: Channel,
    private readonly tunnelId: number,
    private readonly arrivalTimeoutMs = WEBSOCKET_ARRIVAL_TIMEOUT_MS,
  ) {}

  /** Gives an arrived websocket to the oldest request; false when none is waiting (a spare). */
  deliver(ws: WebSocket): boolean {
    const waiter = this.#waiters.shift();
    if (!waiter) return false;
    waiter(ws);
    return true;
  }

  async request(): Promise<WebSocket> {
    let timer: NodeJS.Timeout | undefined;
    let waiter!: (ws: WebSocket) => void;
    const arrival = new Promise<WebSocket>((resolve, reject) => {
      waiter = resolve;
      timer = setTimeout(() => {
        this.#drop(waiter);
        reject(new NetunnelError('TIMEOUT', `the client did not open a websocket for tunnel ${this.tunnelId} in time`));
      }, this.arrivalTimeoutMs);
    });
    this.#waiters.push(waiter);
    try {
      // The websocket may come before the answer. Either failing fails the request at once:
      // the time for the websocket runs from the asking, and a client that answers nothing
      // (frozen) must not leave the arrival's rejection unheard, which would end the process.
      const [, ws] = await Promise.all([this.channel.request(MessageType.NEW_CONNECTION, { tunnel_id: this.tunnelId }), arrival]);
      return ws;
    } catch (err) {
      this.#drop(waiter);
      // A websocket that came for a request the client then refused belongs to no one.
      arrival.then((ws) => ws.close(), () => {});
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #drop(waiter: (ws: WebSocket) => void): void {
    const index = this.#waiters.indexOf(waiter);
    if (index !== -1) this.#waiters.splice(index, 1);
  }
}
