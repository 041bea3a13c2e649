/** What a tunnel end keeps of each live connection: a stream it can cut, that says when it closed. */
export interface Closable {
  destroy(): void;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * The live connections of one tunnel end: counted for /status, cut all at once by a forced
 * stop, and waited for by a graceful one.
 */
export class LiveConnections {
  readonly #live = new Set<Closable>();
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#live.size;
  }

  add(connection: Closable): void {
    this.#live.add(connection);
    connection.once('close', () => {
      this.#live.delete(connection);
      if (this.#live.size === 0) this.#wake();
    });
  }

  destroyAll(): void {
    for (const connection of this.#live) connection.destroy();
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
