import { EventEmitter } from 'node:events';

export interface Endpoint {
  address: string;
  port: number;
}

/** The client's end of a tunnel: the entrance of a forward tunnel, the exit of a reverse one. */
export interface TunnelEnd {
  readonly connectionCount: number;
  /** Stops taking connections; live ones finish unless `force`. */
  stop(force: boolean): void;
  /** Resolves once no connection is open. */
  drained(): Promise<void>;
}

/** A tunnel opened by the client; emits 'stopped' once, however it ends. */
export class ClientTunnel extends EventEmitter {
  #stopped = false;
  readonly #end: TunnelEnd;

  constructor(
    readonly id: number,
    readonly reverse: boolean,
    readonly entrance: Endpoint,
    readonly exit: Endpoint,
    end: TunnelEnd,
  ) {
    super();
    this.#end = end;
  }

  /** Connections open through this tunnel now. */
  get connectionCount(): number {
    return this.#end.connectionCount;
  }

  /** Resolves once no connection is open through this tunnel: after a stop, when the last one ended. */
  drained(): Promise<void> {
    return this.#end.drained();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  stop(force = false): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#end.stop(force);
    this.emit('stopped');
  }

  /** Resolves when the tunnel has stopped. */
  done(): Promise<void> {
    return this.#stopped ? Promise.resolve() : new Promise((resolve) => this.once('stopped', () => resolve()));
  }
}
