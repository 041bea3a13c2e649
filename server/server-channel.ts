import type WebSocket from 'ws';
import type { Logger } from 'pino';
import { Channel } from '../common/channel.js';
import { NetunnelError } from '../common/errors.js';
import type { Heartbeat } from '../common/heartbeat.js';
import { MessageType } from '../common/protocol.js';
import { formatAddress } from '../common/tcp.js';
import type { Traffic } from '../common/traffic.js';
import type {
  ChannelStatus,
  CreateForwardTunnelRequest,
  CreateReverseTunnelRequest,
  CreateTunnelRequest,
  CreateTunnelResponse,
  Feature,
} from '../common/protocol.js';
import { assertEntranceAllowed } from './access-list.js';
import type { Destinations } from './destinations.js';
import type { NamedEntrances } from './named-entrances.js';
import { ServerNamedReverseTunnel } from './named-reverse-tunnel.js';
import type { ServerPolicy } from './policy.js';
import { ServerForwardTunnel, ServerReverseTunnel } from './server-tunnels.js';
import type { ServerTunnel } from './server-tunnels.js';
import type { Originator, OwnerInfo } from './tunnel-registry.js';

export interface ServerChannelDeps {
  policy: () => ServerPolicy;
  /** Counters of the connections this server's forward exits and reverse entrances carry. */
  traffic: { forward: Traffic; reverse: Traffic };
  destinations: Destinations;
  namedEntrances: NamedEntrances;
  heartbeat: Heartbeat;
  logger: Logger;
}

/** How long a DELETE_TUNNEL may take when the server tells a client to stop. */
const DELETE_TUNNEL_TIMEOUT_MS = 5000;

/**
 * One client session on the server: its channel websocket and the tunnels it opened.
 * Everything is released when the channel websocket goes away.
 */
export class ServerChannel {
  readonly #tunnels = new Map<number, ServerTunnel>();
  readonly #closeListeners: Array<() => void> = [];
  #channel: Channel | undefined;
  #nextTunnelId = 1;
  #closed = false;
  #registryOwner: OwnerInfo | undefined;
  readonly logger: Logger;

  constructor(
    readonly id: number,
    readonly features: ReadonlySet<Feature>,
    private readonly client: Originator,
    private readonly deps: ServerChannelDeps,
  ) {
    this.logger = deps.logger.child({ channel: id });
  }

  get connected(): boolean {
    return this.#channel !== undefined && !this.#closed;
  }

  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  describe(): ChannelStatus {
    return {
      id: this.id,
      client: formatAddress(this.client.host, this.client.port),
      features: [...this.features],
      tunnels: [...this.#tunnels.values()].map(({ id, kind, target }) => ({ id, kind, target })),
    };
  }

  onClose(listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  /** A channel is connected once; checked before the websocket upgrade too. */
  checkAttachable(): void {
    if (this.#channel || this.#closed) {
      throw new NetunnelError('CONFLICT', `channel ${this.id} is already connected; create a new channel`);
    }
  }

  attach(ws: WebSocket): void {
    this.checkAttachable();
    this.#channel = new Channel(ws, { logger: this.logger });
    this.deps.heartbeat.watch(ws);
    this.#channel.once('close', () => this.close());
    this.logger.info('channel connected');
  }

  async createTunnel(request: CreateTunnelRequest): Promise<CreateTunnelResponse> {
    const channel = this.#requireConnected();
    const { max_tunnels_per_channel: max } = this.deps.policy();
    if (this.#tunnels.size >= max) {
      throw new NetunnelError('LIMIT_REACHED', `channel ${this.id} already has ${max} tunnels, the most allowed (max_tunnels_per_channel)`);
    }
    const id = this.#nextTunnelId;
    if (request.reverse && request.entrance_name !== undefined) return this.#createNamedReverse(id, request, channel);
    if (request.reverse) return this.#createReverse(id, request, channel);
    this.#createForward(id, request);
    return { tunnel_id: id };
  }

  /** How this channel's data websockets behave, from the features it negotiated. */
  get #dataWebSockets(): { halfClose: boolean; reuse: boolean } {
    return { halfClose: this.features.has('half-close'), reuse: this.features.has('websocket-reuse') };
  }

  #createForward(id: number, request: CreateForwardTunnelRequest): void {
    const { exit_address: host, exit_port: port } = request;
    const { destinations } = this.deps;
    destinations.check(host, port);
    const logger = this.logger.child({ tunnel: id });
    const connect = () => destinations.open(host, port, this.client, { recycledReads: true });
    const options = { ...this.#dataWebSockets, logger, traffic: this.deps.traffic.forward };
    this.#add(new ServerForwardTunnel(id, formatAddress(host, port), connect, options));
    logger.info(`Opening Client-To-Server tunnel. Connecting to: ${host}:${port}`);
  }

  async #createReverse(id: number, request: CreateReverseTunnelRequest, channel: Channel): Promise<CreateTunnelResponse> {
    const { entrance_address: host } = request;
    const port = request.entrance_port || null;
    assertEntranceAllowed(this.deps.policy().allowed_tunnel_entrances, host, port);
    const logger = this.logger.child({ tunnel: id });
    const tunnel = new ServerReverseTunnel(id, { host, port: port ?? 0 }, {
      channel,
      ...this.#dataWebSockets,
      logger,
      traffic: this.deps.traffic.reverse,
    });
    // Reserve the id before listening so a concurrent creation cannot take it.
    this.#add(tunnel);
    let bound;
    try {
      bound = await tunnel.start();
    } catch (err) {
      this.#tunnels.delete(id);
      throw err;
    }
    if (this.#closed) tunnel.stop(true);
    logger.info(`Opening Server-To-Client tunnel. Listen on: ${bound.address}:${bound.port}`);
    const response: CreateTunnelResponse = { tunnel_id: id };
    if (this.features.has('entrance-port')) {
      response.entrance_address = bound.address;
      response.entrance_port = bound.port;
    }
    return response;
  }

  /** Extension `named-reverse`: the entrance is a name in the tunnel registry, not a socket. */
  #createNamedReverse(id: number, request: CreateReverseTunnelRequest, channel: Channel): CreateTunnelResponse {
    const name = request.entrance_name!;
    const port = request.entrance_port;
    if (!this.features.has('named-reverse')) {
      throw new NetunnelError('BAD_REQUEST', 'entrance_name needs the named-reverse feature: ask for it in "features" when creating the channel');
    }
    if (!port) throw new NetunnelError('BAD_REQUEST', `a named reverse tunnel needs an entrance_port (1-65535), got ${port}`);
    const logger = this.logger.child({ tunnel: id });
    const tunnel = new ServerNamedReverseTunnel(id, { channel, ...this.#dataWebSockets, logger });
    tunnel.start(this.deps.namedEntrances, name, port, this.#owner);
    this.#add(tunnel);
    logger.info(`Opening Server-To-Client tunnel. Registered as: ${name}:${port}`);
    const response: CreateTunnelResponse = { tunnel_id: id };
    if (this.features.has('entrance-port')) {
      response.entrance_address = name;
      response.entrance_port = port;
    }
    return response;
  }

  /** One registrant for all of this channel's names, so `name~N` counts clients, not ports. */
  get #owner(): OwnerInfo {
    this.#registryOwner ??= { kind: 'netunnel', address: this.client.host, key: `channel ${this.id}` };
    return this.#registryOwner;
  }

  #add(tunnel: ServerTunnel): void {
    this.#tunnels.set(tunnel.id, tunnel);
    this.#nextTunnelId = tunnel.id + 1;
  }

  deleteTunnel(tunnelId: number, force: boolean): void {
    this.tunnel(tunnelId).stop(force);
    this.#tunnels.delete(tunnelId);
    this.logger.info({ tunnel: tunnelId, force }, 'tunnel deleted by the client');
  }

  tunnel(tunnelId: number): ServerTunnel {
    this.#requireConnected();
    const tunnel = this.#tunnels.get(tunnelId);
    if (!tunnel) throw new NetunnelError('NOT_FOUND', `tunnel ${tunnelId} does not exist on channel ${this.id}`);
    return tunnel;
  }

  /** Tells the client to stop each tunnel, then closes the channel (factory reset, shutdown). */
  async disconnect(): Promise<void> {
    const channel = this.#channel;
    if (channel && !channel.closed) {
      await Promise.allSettled(
        [...this.#tunnels.keys()].map((tunnel_id) =>
          channel.request(MessageType.DELETE_TUNNEL, { tunnel_id, force: false }, DELETE_TUNNEL_TIMEOUT_MS),
        ),
      );
      // A clean close handshake (bounded by the channel's own fallback), not a cut socket.
      channel.close();
      await channel.whenClosed();
    }
    this.close();
  }

  /** Releases everything: tunnels stop accepting, live connections finish on their own. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const tunnel of this.#tunnels.values()) tunnel.stop(false);
    this.#tunnels.clear();
    this.#channel?.terminate();
    this.logger.info('channel closed');
    for (const listener of this.#closeListeners) listener();
  }

  #requireConnected(): Channel {
    if (this.#closed || !this.#channel) {
      throw new NetunnelError('CONFLICT', `channel ${this.id} is not connected; open /channels/${this.id}/connect first`);
    }
    return this.#channel;
  }
}
