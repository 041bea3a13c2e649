import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import type { Logger } from 'pino';
import { errorMessage } from './errors.js';
import { LiveConnections } from './live-connections.js';
import { abort, splice } from './splice.js';
import type { Traffic } from './traffic.js';
import { WebSocketStream } from './websocket-stream.js';

export interface OutputTunnelOptions {
  /** Opens the exit stream for one connection (a TCP socket, or a registry endpoint). */
  connect: () => Promise<Duplex>;
  halfClose: boolean;
  /** Extension `websocket-reuse`: a websocket whose connection ended cleanly waits for its next `pasten`. */
  reuse?: boolean;
  logger: Logger;
  traffic?: Traffic;
}

/**
 * A tunnel's exit: each data websocket handed to it is one connection. The first message
 * (the entrance's `pasten`) is discarded; only then is the exit connected, and joined.
 */
export class OutputTunnel {
  readonly #options: OutputTunnelOptions;
  readonly #live = new LiveConnections();
  readonly #waiting = new Set<WebSocket>();
  #stopped = false;

  constructor(options: OutputTunnelOptions) {
    this.#options = options;
  }

  get connectionCount(): number {
    return this.#live.size;
  }

  /** Resolves once no connection is open (after a stop, once the last one finished). */
  drained(): Promise<void> {
    return this.#live.drained();
  }

  accept(ws: WebSocket): void {
    if (this.#stopped) {
      ws.close(1000);
      return;
    }
    this.#waiting.add(ws);
    const onEarlyClose = () => {
      this.#waiting.delete(ws);
      ws.off('message', onFirst);
    };
    const onFirst = () => {
      this.#waiting.delete(ws);
      ws.off('close', onEarlyClose);
      // A first frame the peer sent before it read our close must not start a connection.
      if (this.#stopped) return;
      const { halfClose, reuse } = this.#options;
      void this.#carry(new WebSocketStream(ws, { halfClose, onReusable: reuse ? (free) => this.accept(free) : undefined }));
    };
    ws.once('message', onFirst);
    ws.once('close', onEarlyClose);
  }

  /**
   * Stops accepting; live connections finish unless `force` (then they are aborted). The
   * websockets still waiting for their first frame (spares, reused ones) are closed: they
   * would otherwise carry new connections through a tunnel that is gone.
   */
  stop(force = false): void {
    this.#stopped = true;
    for (const ws of this.#waiting) ws.close(1000);
    this.#waiting.clear();
    if (force) this.#live.abortAll();
  }

  async #carry(stream: WebSocketStream): Promise<void> {
    const { connect, logger } = this.#options;
    this.#live.add(stream);
    // Until splice() takes the stream its errors are ours: the entrance may go away (a reset, a
    // killed client) or break the protocol while the exit connects, and an unheard error kills the process.
    let early: Error | undefined;
    const onEarlyError = (err: Error) => (early ??= err);
    stream.on('error', onEarlyError);
    let exit: Duplex;
    try {
      exit = await connect();
    } catch (err) {
      // The early listener stays: the refused stream has nothing else to hear a late error.
      // As the original, the entrance sees the websocket close and its user a clean EOF; with
      // half-close the close code also says why (stdio mode reports it).
      logger.info({ err: errorMessage(err) }, 'tunnel exit unreachable');
      stream.refuseExit(errorMessage(err));
      return;
    }
    stream.off('error', onEarlyError);
    if (early) {
      logger.debug({ err: early.message }, 'the entrance failed while the exit was connecting');
      // A registry exit (an SSH channel, a named reverse tunnel) is destroyed with the error:
      // nobody else listens on it yet.
      exit.on('error', () => {});
      abort(exit, early);
      return;
    }
    if (stream.destroyed) {
      exit.destroy();
      return;
    }
    const result = await splice(stream, exit, { traffic: this.#options.traffic });
    logger.debug({ received: result.aToB, sent: result.bToA, err: result.error?.message }, 'connection closed');
  }
}
