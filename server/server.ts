import Fastify, { LogController } from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import type { AddressInfo, Socket } from 'node:net';
import { ServerNoAuth } from '../common/auth.js';
import type { ServerAuth } from '../common/auth.js';
import { sleep } from '../common/backoff.js';
import { NetunnelError } from '../common/errors.js';
import { Heartbeat } from '../common/heartbeat.js';
import { useLargeReads } from '../common/large-reads.js';
import type { Logger } from '../common/logger.js';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS, MAX_RECEIVE_BYTES } from '../common/protocol.js';
import { NETUNNEL_VERSION } from '../common/version.js';
import { Channels } from './channels.js';
import { Destinations } from './destinations.js';
import { NamedEntrances } from './named-entrances.js';
import { requestValidatorCompiler } from './request-validation.js';
import { installErrorHandlers, installJsonParser, websocketFailed } from './http-errors.js';
import { installAuth } from './auth-hook.js';
import { BoundedServerAuth } from '../common/bounded-auth.js';
import type { ConfigStore } from './config/store.js';
import { channelRoutes } from './routes/channels.js';
import { configRoutes } from './routes/config.js';
import { peerRoutes } from './routes/peers.js';
import { operationsRoutes } from './routes/operations.js';
import { ServerMetrics } from './metrics.js';
import type { StatusResponse } from '../common/protocol.js';
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
  /** How long the auth plugin may take to answer (tests shorten it). */
  authTimeoutMs?: number;
}

/** How long a shutdown waits for clients to take their tunnels down, at least (then they are cut). */
const GOODBYE_MS = 2000;

/** The REST API's bodies are small; anything bigger is a mistake or an attack. */
const BODY_LIMIT_BYTES = 64 * 1024;

/** The netunnel server: the Fastify app, its channels and their tunnels. */
export class NetunnelServer {
  readonly app: FastifyInstance;
  readonly channels: Channels;
  /** Virtual endpoints by name (SSH listeners and later named reverse tunnels), shared by every door. */
  readonly registry = new TunnelRegistry();
  /** Where initiators may go: a registry name first, else an allowed real address. Shared with the SSH door. */
  readonly destinations: Destinations;
  /** The auth plugin: checks every request; its getClientForPeer gives peers their credentials. */
  readonly auth: ServerAuth;
  /** Other servers this one keeps static tunnels to. */
  readonly peers: Peers;
  readonly metrics = new ServerMetrics(NETUNNEL_VERSION);
  readonly #startedAt = Date.now();
  #sshConnections: () => number = () => 0;
  #closing = false;
  readonly #heartbeat: Heartbeat;
  readonly #options: NetunnelServerOptions;

  private constructor(options: NetunnelServerOptions) {
    this.#options = options;
    this.auth = new BoundedServerAuth(options.auth ?? new ServerNoAuth(), options.authTimeoutMs);
    this.#heartbeat = new Heartbeat(options.heartbeat ?? { intervalMs: HEARTBEAT_INTERVAL_MS, timeoutMs: HEARTBEAT_TIMEOUT_MS });
    this.destinations = new Destinations(this.registry, () => options.config.config.allowed_tunnel_destinations);
    const namedEntrances = new NamedEntrances(this.registry, () => options.config.config.allowed_tunnel_names ?? {});
    const { traffic } = this.metrics;
    this.channels = new Channels({
      policy: () => options.config.config,
      destinations: this.destinations,
      namedEntrances,
      heartbeat: this.#heartbeat,
      logger: options.logger,
      traffic,
    });
    const connector = new PeerConnector({ config: options.config, auth: this.auth, logger: options.logger, traffic: traffic.static });
    const timing = () =>
      options.staticTunnels ?? { ...DEFAULT_STATIC_TUNNEL_TIMING, healthIntervalMs: options.config.config.static_tunnel_health_check_interval * 1000 };
    this.peers = new Peers({ config: options.config, connector, timing, logger: options.logger });
    this.metrics.watch({
      channels: () => this.channels.size,
      tunnels: () => this.channels.tunnelCounts(),
      registryEntries: () => this.registry.list().length,
      sshSessions: () => this.#sshConnections(),
      peers: () => this.peers.list().length,
      staticTunnels: () => this.peers.stateCounts(),
    });
    this.app = Fastify({
      ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
      loggerInstance: options.logger as FastifyBaseLogger,
      bodyLimit: BODY_LIMIT_BYTES,
      // By close() everything has had its grace: a silent or half-sent request must not hold the exit.
      forceCloseConnections: true,
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
    app.setValidatorCompiler(requestValidatorCompiler());
    // Before ws takes the socket: its reads must change before any frame arrives.
    app.server.prependListener('upgrade', (_request: unknown, socket: Socket) => useLargeReads(socket));
    await app.register(fastifyWebsocket, {
      options: { perMessageDeflate: false, maxPayload: MAX_RECEIVE_BYTES },
      errorHandler: websocketFailed,
    });
    app.addHook('onRequest', async (request) => {
      request.log.debug({ method: request.method, url: request.url }, 'request');
      if (this.#closing) throw new NetunnelError('SHUTTING_DOWN', 'the server is shutting down; try again shortly');
    });
    installAuth(app, this.auth, () => this.metrics.authFailed('http'));
    await app.register(versionRoutes, { version: NETUNNEL_VERSION });
    await app.register(channelRoutes, { channels, version: NETUNNEL_VERSION });
    await app.register(tunnelRoutes, { channels, heartbeat: this.#heartbeat });
    await app.register(configRoutes, { config: this.#options.config, channels, peers: this.peers });
    await app.register(peerRoutes, { peers: this.peers });
    await app.register(operationsRoutes, { status: () => this.status(), metrics: this.metrics });
  }

  /** Tells each client its tunnels are going, for at most `ms`: a frozen client must not hold the shutdown. */
  async #sayGoodbye(ms: number): Promise<void> {
    const done = new AbortController();
    await Promise.race([this.channels.disconnectAll().finally(() => done.abort()), sleep(ms, done.signal)]);
    this.channels.closeAll();
  }

  /** Waits until no tunnelled connection is open, for at most `graceMs`, then aborts the rest. */
  async #drain(graceMs: number): Promise<void> {
    const live = () => Object.values(this.metrics.traffic).reduce((sum, t) => sum + t.live, 0);
    const deadline = Date.now() + graceMs;
    if (live() > 0 && graceMs > 0) this.#options.logger.info(`waiting up to ${graceMs / 1000} s for ${live()} connections to finish`);
    while (live() > 0 && Date.now() < deadline) await sleep(Math.min(100, deadline - Date.now()));
    if (live() === 0) return;
    this.#options.logger.info(`closing ${live()} connections still open`);
    // Reset, not ended: a peer must not take a transfer cut short for a whole one.
    const error = new NetunnelError('SHUTTING_DOWN', 'the server shut down');
    for (const traffic of Object.values(this.metrics.traffic)) traffic.abortAll(error);
  }

  /** Lets /status and /metrics count the SSH front door's connections (it runs beside the app). */
  watchSsh(door: { readonly connectionCount: number }): void {
    this.#sshConnections = () => door.connectionCount;
  }

  status(): StatusResponse {
    return {
      version: NETUNNEL_VERSION,
      uptime_seconds: Math.round((Date.now() - this.#startedAt) / 1000),
      channels: this.channels.describe(),
      connections: Object.fromEntries(
        Object.entries(this.metrics.traffic).map(([kind, t]) => [
          kind,
          { live: t.live, total: t.opened, upstream_bytes: t.upstreamBytes, downstream_bytes: t.downstreamBytes },
        ]),
      ),
      registry: this.registry.list().map(({ name, aliases, port, owner, since }) => ({
        name,
        aliases,
        port,
        owner: [owner.kind, owner.address, owner.key].filter(Boolean).join(' '),
        since: since.toISOString(),
      })),
      ssh_sessions: this.#sshConnections(),
      peers: this.peers.list(),
    };
  }

  get address(): AddressInfo {
    return this.app.server.address() as AddressInfo;
  }

  /** The base URL clients use, e.g. http://127.0.0.1:4040 (https:// with TLS). */
  get url(): string {
    const { address, port } = this.address;
    return `${this.#options.tls ? 'https' : 'http'}://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  /**
   * Stops serving. New requests are refused at once (503) and every client is told its
   * tunnels are gone (they stop accepting); connections already open may finish for up to
   * `graceMs`, then whatever is left is cut, and the config has been saved.
   */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    this.#closing = true;
    const graceMs = options.graceMs ?? 0;
    const deadline = Date.now() + graceMs;
    await this.#sayGoodbye(Math.max(graceMs, GOODBYE_MS));
    await this.#drain(Math.max(0, deadline - Date.now()));
    await this.peers.close();
    await this.#options.config.idle();
    // What is left is cut: websockets whose peer never answers a close (a frozen client), and
    // (forceCloseConnections) HTTP connections idle or halfway through a request.
    for (const ws of this.app.websocketServer.clients) ws.terminate();
    await this.app.close();
    this.#heartbeat.close();
    // The log is written asynchronously: what the shutdown said must reach it before an exit.
    await new Promise<void>((resolve) => this.#options.logger.flush(() => resolve()));
  }
}
