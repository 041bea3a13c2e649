import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type WebSocket from 'ws';
import type { Logger } from 'pino';
import type { Channel } from '../common/channel.js';
import { InputTunnel } from '../common/input-tunnel.js';
import { OutputTunnel } from '../common/output-tunnel.js';
import type { TunnelKind } from '../common/protocol.js';
import { formatAddress } from '../common/tcp.js';
import type { Traffic } from '../common/traffic.js';
import { WebSocketPool } from '../common/websocket-pool.js';
import { RequestedWebSockets } from './requested-websockets.js';

/** What the server keeps for one tunnel of a channel. */
export interface ServerTunnel {
  readonly id: number;
  readonly reverse: boolean;
  readonly kind: TunnelKind;
  /** Where it leads, for /status: the exit, the entrance, or the registered name. */
  readonly target: string;
  /** A data websocket the client opened for this tunnel. */
  accept(ws: WebSocket): void;
  stop(force: boolean): void;
}

/** Forward tunnel: the exit is on the server, the client's websockets arrive here. */
export class ServerForwardTunnel implements ServerTunnel {
  readonly reverse = false;
  readonly kind = 'forward';
  readonly #output: OutputTunnel;

  /** `connect` opens the exit (`target`) for one connection: a real address or a registry endpoint. */
  constructor(
    readonly id: number,
    readonly target: string,
    connect: () => Promise<Duplex>,
    options: { halfClose: boolean; reuse: boolean; logger: Logger; traffic: Traffic },
  ) {
    this.#output = new OutputTunnel({ connect, ...options });
  }

  accept(ws: WebSocket): void {
    this.#output.accept(ws);
  }

  stop(force: boolean): void {
    this.#output.stop(force);
  }
}

/**
 * Reverse tunnel: the entrance listens on the server; for each connection the server asks
 * the client, over the channel, to open a data websocket, and waits for it to arrive.
 */
export class ServerReverseTunnel implements ServerTunnel {
  readonly reverse = true;
  readonly kind = 'reverse';
  readonly #input: InputTunnel;
  readonly #pool: WebSocketPool;
  readonly #requested: RequestedWebSockets;

  constructor(
    readonly id: number,
    entrance: { host: string; port: number },
    options: { channel: Channel; halfClose: boolean; reuse: boolean; logger: Logger; traffic: Traffic },
  ) {
    this.#requested = new RequestedWebSockets(options.channel, id);
    this.#pool = new WebSocketPool(() => this.#requested.request(), { logger: options.logger });
    const { halfClose, reuse, logger, traffic } = options;
    this.#input = new InputTunnel({ ...entrance, pool: this.#pool, halfClose, reuse, logger, traffic });
  }

  get target(): string {
    const { address, port } = this.#input.address;
    return formatAddress(address, port);
  }

  /** Listens at once; the client cannot open websockets before it learns the tunnel id. */
  start(): Promise<AddressInfo> {
    return this.#input.start({ waitForSpare: false });
  }

  accept(ws: WebSocket): void {
    if (!this.#requested.deliver(ws)) this.#pool.offer(ws);
  }

  stop(force: boolean): void {
    this.#input.stop(force);
  }
}
