import { EventEmitter } from 'node:events';

export interface Endpoint {
  address: string;
  port: number;
}

/** A tunnel opened by the client; emits 'stopped' once, however it ends. */
export class ClientTunnel extends EventEmitter {
  #stopped = false;
  readonly #stopper: (force: boolean) => void;

  constructor(
    readonly id: number,
    readonly reverse: boolean,
    readonly entrance: Endpoint,
    readonly exit: Endpoint,
    stopper: (force: boolean) => void,
  ) {
    super();
    this.#stopper = stopper;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(force = false): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopper(force);
    this.emit('stopped');
  }

  /** Resolves when the tunnel has stopped. */
  done(): Promise<void> {
    return this.#stopped ? Promise.resolve() : new Promise((resolve) => this.once('stopped', () => resolve()));
  }
}
