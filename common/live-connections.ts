import { NetunnelError } from './errors.js';
import { abort } from './splice.js';

/** What a tunnel end keeps of each live connection: a stream it can cut, that says when it closed. */
export interface Closable {
  destroy(error?: Error): void;
  once(event: 'close', listener: () => void): unknown;
}

/** Cuts one connection short; `abort` on the stream itself unless the connection says otherwise. */
export type Cut = (error: Error) => void;

/**
 * The live connections of one tunnel end: counted for /status, aborted all at once by a forced
 * stop, and waited for by a graceful one.
 */
export class LiveConnections {
  readonly #live = new Map<Closable, Cut>();
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#live.size;
  }

  add(connection: Closable, cut: Cut = (error) => abort(connection, error)): void {
    this.#live.set(connection, cut);
    connection.once('close', () => {
      this.#live.delete(connection);
      if (this.#live.size === 0) this.#wake();
    });
  }

  /**
   * A forced stop: every connection ends as an abort (a reset TCP end, a terminated data
   * websocket), so that nobody takes a stream cut short for a whole one.
   */
  abortAll(): void {
    const error = new NetunnelError('CHANNEL_CLOSED', 'the tunnel was stopped');
    for (const cut of this.#live.values()) cut(error);
  }

  /** Resolves once no connection is live (at once if none is). */
  drained(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }
}
