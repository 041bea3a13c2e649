import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Logger } from 'pino';
import type { Channel } from '../common/channel.js';
import { LiveConnections } from '../common/live-connections.js';
import { WebSocketPool } from '../common/websocket-pool.js';
import { WebSocketStream } from '../common/websocket-stream.js';
import type { NamedEntrances } from './named-entrances.js';
import { RequestedWebSockets } from './requested-websockets.js';
import type { ServerTunnel } from './server-tunnels.js';
import type { OwnerInfo, RegistrationHandle } from './tunnel-registry.js';

/**
 * Reverse tunnel whose entrance is a name in the tunnel registry (extension `named-reverse`)
 * instead of a listening socket: whoever resolves `name:port` (an SSH initiator, a forward
 * tunnel's exit) gets a data websocket the client was asked to open, as for a TCP entrance.
 */
export class ServerNamedReverseTunnel implements ServerTunnel {
  readonly reverse = true;
  readonly kind = 'named-reverse';
  target = '';
  readonly #pool: WebSocketPool;
  readonly #requested: RequestedWebSockets;
  readonly #live = new LiveConnections();
  readonly #halfClose: boolean;
  readonly #reuse: boolean;
  #handle: RegistrationHandle | undefined;

  constructor(
    readonly id: number,
    options: { channel: Channel; halfClose: boolean; reuse: boolean; logger: Logger },
  ) {
    this.#halfClose = options.halfClose;
    this.#reuse = options.reuse;
    this.#requested = new RequestedWebSockets(options.channel, id);
    this.#pool = new WebSocketPool(() => this.#requested.request(), { logger: options.logger });
  }

  /** Registers `name:port`; throws (registering nothing) if the name is not allowed or invalid. */
  start(entrances: NamedEntrances, name: string, port: number, owner: OwnerInfo): void {
    this.#handle = entrances.register(name, port, { open: () => this.#open() }, owner);
    this.target = `${name}:${port}`;
    this.#pool.prime();
  }

  accept(ws: WebSocket): void {
    if (!this.#requested.deliver(ws)) this.#pool.offer(ws);
  }

  /** Unregisters the name; live connections finish unless `force` (then they are aborted). */
  stop(force: boolean): void {
    this.#handle?.unregister();
    this.#pool.close();
    if (force) this.#live.abortAll();
  }

  async #open(): Promise<Duplex> {
    const ws = await this.#pool.take();
    const onReusable = this.#reuse ? (free: WebSocket) => this.#pool.offer(free) : undefined;
    const stream = WebSocketStream.forEntrance(ws, { halfClose: this.#halfClose, onReusable });
    this.#live.add(stream);
    return stream;
  }
}
