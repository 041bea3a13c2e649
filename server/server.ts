import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import type { AddressInfo } from 'node:net';
import { ServerNoAuth } from '../common/auth.js';
import type { ServerAuth } from '../common/auth.js';
import { Heartbeat } from '../common/heartbeat.js';
import type { Logger } from '../common/logger.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, MAX_RECEIVE_BYTES } from '../common/protocol.js';
import { NETUNNEL_VERSION } from '../common/version.js';
import { Channels } from './channels.js';
import { Destinations } from './destinations.js';
import { NamedEntrances } from './named-entrances.js';
import { installErrorHandlers, installJsonParser } from './http-errors.js';
import { installAuth } from './auth-hook.js';
import type { ConfigStore } from './config/store.js';
import { channelRoutes } from './routes/channels.js';
import { configRoutes } from './routes/config.js';
import { peerRoutes } from './routes/peers.js';
import { PeerConnector } from './peers/peer-connection.js';
import { Peers } from './peers/peers.js';
import { DEFAULT_STATIC_TUNNEL_TIMING } from './peers/static-tunnel.js';
import type { StaticTunnelTiming } from './peers/static-tunnel.js';
import { tunnelRoutes } from './routes/tunnels.js';
import { versionRoutes } from './routes/version.js';
import { TunnelRegistry } from './tunnel-registry.js';

export interface NetunnelServerOptions {
  host: string;
  port: number;
  logger: Logger;
  /** The live configuration: read on every decision, so changes apply at once. */
  config: ConfigStore;
  heartbeat?: { intervalMs: number; timeoutMs: number };
  /** Serve HTTPS and WSS with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Who may use the server (netunnel-wire.md §7); default: everyone. */
  auth?: ServerAuth;
  /** Static tunnels' retry backoff and health check interval (tests shorten them). */
  staticTunnels?: StaticTunnelTiming;
}

/** The REST API's bodies are small; anything bigger is a mistake or an attack. */
const BODY_LIMIT_BYTES = 64 * 1024;

/** The netunnel server: the Fastify app, its channels and their tunnels. */
export class NetunnelServer {
  readonly app: FastifyInstance;
  readonly channels: Channels;
  /** Virtual endpoints by name (SSH listeners and later named reverse tunnels), shared by every door. */
  readonly registry = new TunnelRegistry();
  /** The auth plugin: checks every request; its getClientForPeer gives peers their credentials. */
  readonly auth: ServerAuth;
  /** Other servers this one keeps static tunnels to. */
  readonly peers: Peers;
  readonly #heartbeat: Heartbeat;
  readonly #options: NetunnelServerOptions;

  private constructor(options: NetunnelServerOptions) {
    this.#options = options;
    this.auth = options.auth ?? new ServerNoAuth();
    this.#heartbeat = new Heartbeat(options.heartbeat ?? { intervalMs: HEARTBEAT_INTERVAL_MS, timeoutMs: HEARTBEAT_TIMEOUT_MS });
    const destinations = new Destinations(this.registry, () => options.config.config.allowed_tunnel_destinations);
    const namedEntrances = new NamedEntrances(this.registry, () => options.config.config.allowed_tunnel_names ?? {});
    this.channels = new Channels({ policy: () => options.config.config, destinations, namedEntrances, heartbeat: this.#heartbeat, logger: options.logger });
    const connector = new PeerConnector({ config: options.config, auth: this.auth, logger: options.logger });
    const timing = () =>
      options.staticTunnels ?? { ...DEFAULT_STATIC_TUNNEL_TIMING, healthIntervalMs: options.config.config.static_tunnel_health_check_interval * 1000 };
    this.peers = new Peers({ config: options.config, connector, timing, logger: options.logger });
    this.app = Fastify({
      ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
      loggerInstance: options.logger as FastifyBaseLogger,
      bodyLimit: BODY_LIMIT_BYTES,
      // An unknown field is a mistake worth a 400, not something to drop silently.
      ajv: { customOptions: { removeAdditional: false } },
      // Requests are logged at debug level by our own hook; per-request info lines would drown the log.
      logController: new LogController({ disableRequestLogging: true }),
    } as FastifyServerOptions) as unknown as FastifyInstance;
  }

  static async start(options: NetunnelServerOptions): Promise<NetunnelServer> {
    const server = new NetunnelServer(options);
    await server.#setup();
    await server.app.listen({ host: options.host, port: options.port });
    // After listening: a static tunnel may have this very server as its peer.
    await server.peers.start();
    return server;
  }

  async #setup(): Promise<void> {
    const { app, channels } = this;
    installJsonParser(app);
    installErrorHandlers(app);
    await app.register(fastifyWebsocket, {
      options: { perMessageDeflate: false, maxPayload: MAX_RECEIVE_BYTES },
    });
    app.addHook('onRequest', async (request) => {
      request.log.debug({ method: request.method, url: request.url }, 'request');
    });
    installAuth(app, this.auth);
    await app.register(versionRoutes, { version: NETUNNEL_VERSION });
    await app.register(channelRoutes, { channels, version: NETUNNEL_VERSION });
    await app.register(tunnelRoutes, { channels, heartbeat: this.#heartbeat });
    await app.register(configRoutes, { config: this.#options.config, channels, peers: this.peers });
    await app.register(peerRoutes, { peers: this.peers });
  }

  get address(): AddressInfo {
    return this.app.server.address() as AddressInfo;
  }

  /** The base URL clients use, e.g. http://127.0.0.1:4040 (https:// with TLS). */
  get url(): string {
    const { address, port } = this.address;
    return `${this.#options.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  /** Tells every client its tunnels are gone, then stops serving. */
  async close(): Promise<void> {
    await this.peers.close();
    await this.channels.disconnectAll();
    await this.app.close();
    this.#heartbeat.close();
    this.#options.logger.flush();
  }
}
