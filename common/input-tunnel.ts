import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { errorMessage } from './errors.js';
import { LiveConnections } from './live-connections.js';
import { recycleAcceptedReads } from './recycled-reads.js';
import { abort, splice } from './splice.js';
import { listenTcp } from './tcp.js';
import type { WebSocketPool } from './websocket-pool.js';
import type { Traffic } from './traffic.js';
import { WebSocketStream } from './websocket-stream.js';

export interface InputTunnelOptions {
  host: string;
  port: number;
  pool: WebSocketPool;
  halfClose: boolean;
  /** Extension `websocket-reuse`: a websocket whose connection ended cleanly goes back to the pool. */
  reuse?: boolean;
  logger: Logger;
  traffic?: Traffic;
}

/**
 * A tunnel's entrance: listens on TCP and carries each accepted connection over its own
 * data websocket, taken from the pool, announced by the `pasten` frame.
 */
export class InputTunnel {
  readonly #options: InputTunnelOptions;
  readonly #live = new LiveConnections();
  #server: net.Server | undefined;

  constructor(options: InputTunnelOptions) {
    this.#options = options;
  }

  /**
   * Listens; with `waitForSpare` also opens the first spare websocket before resolving
   * (the original's wait_ready). Resolves with the bound address.
   */
  async start(options: { waitForSpare: boolean }): Promise<AddressInfo> {
    const { host, port, pool } = this.#options;
    this.#server = await listenTcp(host, port, (socket) => void this.#carry(socket));
    if (!options.waitForSpare) {
      pool.prime();
      return this.address;
    }
    try {
      await pool.start();
    } catch (err) {
      this.#server.close();
      throw err;
    }
    return this.address;
  }

  get address(): AddressInfo {
    return this.#server!.address() as AddressInfo;
  }

  get connectionCount(): number {
    return this.#live.size;
  }

  /** Resolves once no connection is open (after a stop, once the last one finished). */
  drained(): Promise<void> {
    return this.#live.drained();
  }

  /** Stops accepting; live connections finish unless `force` (then they are aborted). */
  stop(force = false): void {
    this.#server?.close();
    this.#options.pool.close();
    if (force) this.#live.abortAll();
  }

  async #carry(socket: net.Socket): Promise<void> {
    const { pool, halfClose, reuse, logger } = this.#options;
    // Only splice reads an entrance's socket.
    recycleAcceptedReads(socket);
    // Once spliced, the abort goes to the websocket: splice then resets the socket too, and
    // the far end learns of it (a reset socket alone would end the websocket cleanly).
    let stream: WebSocketStream | undefined = undefined;
    this.#live.add(socket, (error) => abort(stream ?? socket, error));
    socket.on('error', () => {});
    let ws;
    try {
      ws = await pool.take();
    } catch (err) {
      logger.warn({ err: errorMessage(err) }, 'no data websocket for a new connection; closing it');
      socket.destroy();
      return;
    }
    if (socket.destroyed) {
      pool.offer(ws);
      return;
    }
    stream = WebSocketStream.forEntrance(ws, { halfClose, onReusable: reuse ? (free) => pool.offer(free) : undefined });
    const done = splice(socket, stream, { traffic: this.#options.traffic });
    socket.resume();
    const result = await done;
    logger.debug({ sent: result.aToB, received: result.bToA, err: result.error?.message }, 'connection closed');
  }
}
