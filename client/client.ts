import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import type WebSocket from 'ws';
import type { ClientAuth } from '../common/auth.js';
import { Channel } from '../common/channel.js';
import { NetunnelError } from '../common/errors.js';
import { Heartbeat } from '../common/heartbeat.js';
import { InputTunnel } from '../common/input-tunnel.js';
import type { Logger } from '../common/logger.js';
import { OutputTunnel } from '../common/output-tunnel.js';
import { FEATURES, HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, MessageType, routes } from '../common/protocol.js';
import type {
  CreateChannelResponse,
  CreateTunnelRequest,
  CreateTunnelResponse,
  DeleteTunnelData,
  Feature,
  NewConnectionData,
  StatusResponse,
} from '../common/protocol.js';
import { connectTcp } from '../common/tcp.js';
import type { Traffic } from '../common/traffic.js';
import { NETUNNEL_VERSION } from '../common/version.js';
import { WebSocketPool } from '../common/websocket-pool.js';
import { WebSocketStream } from '../common/websocket-stream.js';
import { RestClient } from './rest.js';
import { ClientAuthSession } from './auth-session.js';
import { ClientTunnel } from './client-tunnel.js';
import type { ClientTlsOptions, ProxyOptions } from '../common/proxy-connect.js';
import { openWebSocket, toWebSocketUrl } from './websocket-connect.js';

export interface NetunnelClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:4040 (a path prefix is allowed). */
  serverUrl: string;
  logger: Logger;
  /** Extensions to ask for; default all we know. An empty list behaves exactly as the original. */
  features?: readonly Feature[];
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** An HTTP proxy for every REST call and websocket (one CONNECT per websocket). */
  proxy?: ProxyOptions;
  /** Certificate checks for https:// servers: extra CAs beside the system's, or none at all. */
  tls?: ClientTlsOptions;
  /** Mask frames with a random key even over TLS or to this host (see needsRandomMask). */
  alwaysMask?: boolean;
  /** Credentials for a server with an auth plugin (netunnel-wire.md §7); added to every request and websocket. */
  auth?: ClientAuth;
  /** Counts the connections this client's forward tunnels carry (a server's static tunnels, for metrics). */
  traffic?: Traffic;
}

export interface ForwardTunnelSpec {
  remoteAddress: string;
  remotePort: number;
  localAddress?: string;
  localPort?: number;
}

export interface ReverseTunnelSpec {
  localAddress: string;
  localPort: number;
  remoteAddress?: string;
  remotePort?: number | null;
  /** Extension `named-reverse`: register as `name:remotePort` in the server's tunnel registry instead of listening. */
  name?: string;
}

/**
 * A session with a netunnel server: one channel websocket, and the tunnels opened through
 * it. Emits 'close' (with the reason) when the channel is gone; its tunnels are then stopped.
 */
export class NetunnelClient extends EventEmitter {
  readonly #options: NetunnelClientOptions;
  readonly #serverUrl: string;
  readonly #rest: RestClient;
  readonly #auth: ClientAuthSession;
  readonly #heartbeat: Heartbeat;
  readonly #tunnels = new Map<number, ClientTunnel>();
  readonly #reverseExits = new Map<number, OutputTunnel>();
  readonly #pendingCreations = new Set<Promise<unknown>>();
  #channel: Channel | undefined;
  #channelId = 0;
  #features = new Set<Feature>();
  /** close() was called: whatever an attempt still in flight opens is closed at once. */
  #closed = false;
  serverVersion = '';

  constructor(options: NetunnelClientOptions) {
    super();
    this.#options = options;
    this.#serverUrl = options.serverUrl.replace(/\/+$/, '');
    const authContext = { serverUrl: this.#serverUrl, post: <T>(path: string, body: unknown) => this.#rest.postAnonymously<T>(path, body) };
    this.#auth = new ClientAuthSession(options.auth, authContext, options.logger);
    this.#rest = new RestClient(this.#serverUrl, { proxy: options.proxy, tls: options.tls, authorizer: this.#auth });
    this.#heartbeat = new Heartbeat(options.heartbeat ?? { intervalMs: HEARTBEAT_INTERVAL_MS, timeoutMs: HEARTBEAT_TIMEOUT_MS });
  }

  get channelId(): number {
    return this.#channelId;
  }

  get features(): ReadonlySet<Feature> {
    return this.#features;
  }

  get tunnels(): ReadonlyMap<number, ClientTunnel> {
    return this.#tunnels;
  }

  async connect(): Promise<void> {
    const requested = this.#options.features ?? FEATURES;
    const created = await this.#rest.post<CreateChannelResponse>(routes.channels(), {
      version: NETUNNEL_VERSION,
      ...(requested.length > 0 ? { features: [...requested] } : {}),
    });
    this.#channelId = created.channel_id;
    this.serverVersion = created.version;
    this.#features = new Set((created.features ?? []).filter((f) => requested.includes(f)));
    this.#requireOpen();
    await this.#openWebSocket(routes.channelConnect(created.channel_id), (ws) => (this.#channel = this.#startChannel(ws)));
    if (this.#closed) {
      this.#channel?.close();
      throw closedError();
    }
    this.#options.logger.debug({ channel: this.#channelId, features: [...this.#features] }, 'channel connected');
  }

  #startChannel(ws: WebSocket): Channel {
    const channel = new Channel(ws, { logger: this.#options.logger });
    channel.handle(MessageType.NEW_CONNECTION, (data) => this.#onNewConnection(data));
    channel.handle(MessageType.DELETE_TUNNEL, (data) => this.#onDeleteTunnel(data));
    channel.once('close', () => this.#onChannelClose());
    return channel;
  }

  getVersion(): Promise<string> {
    return this.#rest.get<string>(routes.version());
  }

  /** What the server is doing (a netunnel server; GET /status). Needs no channel. */
  getStatus(): Promise<StatusResponse> {
    return this.#rest.get<StatusResponse>(routes.status());
  }

  /** Forward tunnel: listens here, exits on the server's side. */
  async openForwardTunnel(spec: ForwardTunnelSpec): Promise<ClientTunnel> {
    this.#requireChannel();
    const { remoteAddress, remotePort, localAddress = '127.0.0.1', localPort = 0 } = spec;
    const { tunnel_id: id } = await this.#createTunnel({ exit_address: remoteAddress, exit_port: remotePort, reverse: false });
    const logger = this.#options.logger.child({ channel: this.#channelId, tunnel: id });
    const pool = new WebSocketPool(() => this.#openWebSocket(routes.tunnelConnect(this.#channelId, id)), { logger });
    const input = new InputTunnel({ host: localAddress, port: localPort, pool, ...this.#dataWebSockets, logger, traffic: this.#options.traffic });
    let bound: AddressInfo;
    try {
      bound = await input.start({ waitForSpare: true });
    } catch (err) {
      input.stop(true);
      await this.#deleteOnServer(id);
      throw err;
    }
    return this.#register(new ClientTunnel(id, false, bound, { address: remoteAddress, port: remotePort }, input));
  }

  /**
   * One connection to `address:port` on the server's side (an allowed destination or a
   * registry name), as a byte stream, with no local listener: what stdio mode joins to
   * stdin/stdout. Its tunnel on the server goes when the stream closes.
   */
  async openConnection(remote: { address: string; port: number }): Promise<WebSocketStream> {
    this.#requireChannel();
    const { tunnel_id: id } = await this.#createTunnel({ exit_address: remote.address, exit_port: remote.port, reverse: false });
    let ws: WebSocket;
    try {
      ws = await this.#openWebSocket(routes.tunnelConnect(this.#channelId, id));
    } catch (err) {
      await this.#deleteOnServer(id);
      throw err;
    }
    const stream = WebSocketStream.forEntrance(ws, { halfClose: this.#halfClose });
    stream.once('close', () => void this.#deleteOnServer(id));
    return stream;
  }

  /** Reverse tunnel: listens on the server, exits here at localAddress:localPort. */
  async openReverseTunnel(spec: ReverseTunnelSpec): Promise<ClientTunnel> {
    this.#requireChannel();
    const { localAddress, localPort, remoteAddress = '127.0.0.1', remotePort = null, name } = spec;
    if (name !== undefined && !this.#features.has('named-reverse')) {
      throw new NetunnelError('BAD_REQUEST', `the server does not support named reverse tunnels (extension named-reverse), so "${name}" cannot be registered`);
    }
    const named = name === undefined ? {} : { entrance_name: name };
    const creation = this.#createTunnel({ entrance_address: remoteAddress, entrance_port: remotePort, reverse: true, ...named });
    // NEW_CONNECTION may arrive before this answer: its handler waits for pending creations.
    this.#pendingCreations.add(creation);
    let created: CreateTunnelResponse;
    try {
      created = await creation;
      const id = created.tunnel_id;
      const logger = this.#options.logger.child({ channel: this.#channelId, tunnel: id });
      const output = new OutputTunnel({ connect: () => connectTcp(localAddress, localPort, { recycledReads: true }), ...this.#dataWebSockets, logger });
      this.#reverseExits.set(id, output);
      // An original server does not say where it listens; report what was asked for, as the original.
      const entrance = { address: created.entrance_address ?? name ?? remoteAddress, port: created.entrance_port ?? remotePort ?? 0 };
      return this.#register(
        new ClientTunnel(id, true, entrance, { address: localAddress, port: localPort }, {
          get connectionCount() {
            return output.connectionCount;
          },
          stop: (force) => {
            output.stop(force);
            this.#reverseExits.delete(id);
          },
          drained: () => output.drained(),
        }),
      );
    } finally {
      this.#pendingCreations.delete(creation);
    }
  }

  /**
   * Checks a forward tunnel end to end: the server answers, and (a netunnel server) still
   * accepts a data websocket for it. The websocket is closed before any frame, so the
   * exit never connects.
   */
  async checkTunnel(tunnel: ClientTunnel): Promise<void> {
    this.#requireChannel();
    await this.getVersion();
    if (this.#features.size === 0 || tunnel.reverse) return;
    const ws = await this.#openWebSocket(routes.tunnelConnect(this.#channelId, tunnel.id));
    ws.close(1000);
  }

  /** Stops a tunnel here and on the server. */
  async closeTunnel(tunnel: ClientTunnel, force = false): Promise<void> {
    tunnel.stop(force);
    await this.#deleteOnServer(tunnel.id, force);
  }

  /** Stops every tunnel and closes the channel. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const tunnel of this.#tunnels.values()) tunnel.stop(true);
    this.#channel?.close();
    this.#heartbeat.close();
    await this.#rest.close();
  }

  /** How data websockets behave, from the features the server agreed to. */
  get #dataWebSockets(): { halfClose: boolean; reuse: boolean } {
    return { halfClose: this.#halfClose, reuse: this.#features.has('websocket-reuse') };
  }

  get #halfClose(): boolean {
    return this.#features.has('half-close');
  }

  #register(tunnel: ClientTunnel): ClientTunnel {
    if (this.#closed) {
      tunnel.stop(true);
      throw closedError();
    }
    this.#tunnels.set(tunnel.id, tunnel);
    tunnel.once('stopped', () => this.#tunnels.delete(tunnel.id));
    return tunnel;
  }

  #createTunnel(request: CreateTunnelRequest): Promise<CreateTunnelResponse> {
    return this.#rest.post<CreateTunnelResponse>(routes.tunnels(this.#channelId), request);
  }

  async #deleteOnServer(id: number, force = false): Promise<void> {
    if (this.#channel?.closed !== false) return;
    await this.#rest.delete(routes.tunnel(this.#channelId, id), { force }).catch((err: unknown) => {
      this.#options.logger.debug({ tunnel: id, err }, 'could not delete the tunnel on the server');
    });
  }

  #openWebSocket(path: string, adopt?: (ws: WebSocket) => void): Promise<WebSocket> {
    return this.#auth.authorize((headers) =>
      openWebSocket(
        toWebSocketUrl(this.#serverUrl) + path,
        headers,
        (ws) => {
          this.#heartbeat.watch(ws);
          adopt?.(ws);
        },
        { proxy: this.#options.proxy, tls: this.#options.tls, alwaysMask: this.#options.alwaysMask },
      ),
    );
  }

  async #onNewConnection({ tunnel_id: id }: NewConnectionData): Promise<void> {
    if (!this.#reverseExits.has(id)) await Promise.allSettled([...this.#pendingCreations]);
    const output = this.#reverseExits.get(id);
    if (!output) throw new Error(`tunnel_id \`${id}\` is not registered on this client`);
    // Answer at once; the websocket follows (the server waits for it), as the original does.
    this.#openWebSocket(routes.tunnelConnect(this.#channelId, id), (ws) => output.accept(ws)).catch((err: unknown) =>
      this.#options.logger.warn({ tunnel: id, err }, 'could not open a data websocket the server asked for'),
    );
  }

  #onDeleteTunnel({ tunnel_id: id, force }: DeleteTunnelData): void {
    this.#tunnels.get(id)?.stop(force);
  }

  #onChannelClose(): void {
    for (const tunnel of this.#tunnels.values()) tunnel.stop(true);
    this.emit('close', new NetunnelError('CHANNEL_CLOSED', 'the connection to the server was lost'));
  }

  #requireOpen(): void {
    if (this.#closed) throw closedError();
  }

  #requireChannel(): void {
    if (!this.#channel || this.#channel.closed) throw new NetunnelError('CHANNEL_CLOSED', 'the client is not connected; call connect() first');
  }
}

function closedError(): NetunnelError {
  return new NetunnelError('CHANNEL_CLOSED', 'the client was closed');
}
