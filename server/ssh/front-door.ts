import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Connection } from 'ssh2';
import { errorMessage } from '../../common/errors.js';
import { useLargeReads } from '../../common/large-reads.js';
import type { Logger } from '../../common/logger.js';
import type { Traffic } from '../../common/traffic.js';
import type { TunnelRegistry } from '../tunnel-registry.js';
import { normalizeAddress } from './from-patterns.js';
import { AuthorizedKeysFile } from './authorized-keys-file.js';
import { coalesceWrites } from './coalesced-writes.js';
import { hangUp } from './hang-up.js';
import { loadHostKey } from './host-key.js';
import { DEFAULT_MAX_CIRCUITS_PER_KEY, DEFAULT_MAX_FORWARDS_PER_KEY, PerKeyLimit } from './key-limits.js';
import { SshConnection } from './ssh-connection.js';
import ssh2 from './ssh2.js';
import type { DoorContext } from './ssh-connection.js';
import type { StreamOpener } from './upstream-connection.js';
import type { UpstreamRule } from './upstream-rules.js';

export const DEFAULT_SSH_PORT = 1878;

export interface SshFrontDoorOptions {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  hostKeyPath: string;
  authorizedKeysPath: string;
  registry: TunnelRegistry;
  logger: Logger;
  /** How long a listener may take to accept a circuit. */
  openTimeoutMs?: number;
  /** How long a client may take to authenticate. */
  authTimeoutMs?: number;
  /** Public-key attempts per connection (queries and signed attempts count once per key). */
  maxAuthAttempts?: number;
  /** Virtual ports one key may hold at once, over all its connections. */
  maxForwardsPerKey?: number;
  /** Circuits one key may have open (or opening) at once, over all its connections. */
  maxCircuitsPerKey?: number;
  /**
   * Keepalive probes to each client: one after `intervalMs` of silence, and the client is
   * dropped after `countMax` unanswered ones. Default: ssh2's, 15 s and 3.
   */
  keepalive?: { intervalMs: number; countMax: number };
  /** Counts the circuits and their bytes, for metrics. */
  traffic?: Traffic;
  /** Called for each connection that ends without having authenticated. */
  onAuthFailure?: () => void;
  /** The reverse proxy's rules (`ssh.upstreams`), for keys with access="proxy". */
  upstreams?: readonly UpstreamRule[];
  /**
   * How the reverse proxy reaches an upstream: the server's destinations (a registry name, else
   * an allowed address). Default: registry names only.
   */
  destinations?: StreamOpener;
}

export interface SshFrontDoor {
  host: string;
  port: number;
  hostKeyFingerprint: string;
  /** SSH connections open now. */
  readonly connectionCount: number;
  /** Takes no new SSH connections; those open keep going (a graceful shutdown's first step). */
  stopListening(): void;
  close(): Promise<void>;
}

/**
 * Starts the SSH front door: an ssh2 server whose clients (SshConnection, one each) share the
 * tunnel registry, the authorized keys and the per-key limits; a connection that does not
 * authenticate within the login grace time is cut.
 */
export async function startSshFrontDoor(options: SshFrontDoorOptions): Promise<SshFrontDoor> {
  const { registry, logger } = options;
  const host = options.host ?? '127.0.0.1';
  const authTimeoutMs = options.authTimeoutMs ?? 30_000;
  const hostKey = loadHostKey(options.hostKeyPath, logger);
  logger.info(`SSH host key ${options.hostKeyPath}: ${hostKey.fingerprint}`);
  const clients = new Set<Connection>();
  const authenticated = new WeakSet<Socket>();

  const door: DoorContext = {
    registry,
    authorized: new AuthorizedKeysFile(options.authorizedKeysPath, logger),
    forwardLimit: new PerKeyLimit(options.maxForwardsPerKey ?? DEFAULT_MAX_FORWARDS_PER_KEY, 'forwarded ports', 'max_forwards_per_key'),
    circuitLimit: new PerKeyLimit(options.maxCircuitsPerKey ?? DEFAULT_MAX_CIRCUITS_PER_KEY, 'open circuits', 'max_circuits_per_key'),
    clients,
    authenticated,
    upstreams: options.upstreams ?? [],
    upstreamOpener: options.destinations ?? { open: (host, port, originator) => registry.resolve(host, port).open(originator) },
    openTimeoutMs: options.openTimeoutMs ?? 15_000,
    maxAuthAttempts: options.maxAuthAttempts ?? 10,
    ...(options.traffic ? { traffic: options.traffic } : {}),
    ...(options.onAuthFailure ? { onAuthFailure: options.onAuthFailure } : {}),
  };
  const keepalive = options.keepalive ? { keepaliveInterval: options.keepalive.intervalMs, keepaliveCountMax: options.keepalive.countMax } : {};
  const server = new ssh2.Server({ hostKeys: [hostKey.key], ident: 'netunnel', ...keepalive }, (client, info) => new SshConnection(client, info, door, logger));

  server.on('error', (err: Error) => logger.error({ err: errorMessage(err) }, 'SSH server error'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // ssh2 emits 'connection' only once the client's identification line has arrived, so a
  // silent TCP connection would never time out: the login grace timer runs on the raw socket.
  const netServer = (server as unknown as { _srv?: NetServer })._srv;
  const sockets = new Set<Socket>();
  netServer?.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    coalesceWrites(socket);
    useLargeReads(socket);
    const timer = setTimeout(() => {
      if (authenticated.has(socket)) return;
      logger.info(`SSH client ${normalizeAddress(socket.remoteAddress ?? '?')}:${socket.remotePort} did not authenticate within ${authTimeoutMs / 1000} s; disconnecting`);
      socket.destroy();
    }, authTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  });
  const address = server.address() as AddressInfo;
  logger.info(`SSH front door listening on ${host}:${address.port}`);
  return {
    host,
    port: address.port,
    hostKeyFingerprint: hostKey.fingerprint,
    get connectionCount() {
      return clients.size;
    },
    stopListening: () => netServer?.close(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) hangUp(client);
        // Not logged in yet (maybe not even an SSH client): nothing to say goodbye to, and
        // only the login grace would end it.
        for (const socket of sockets) if (!authenticated.has(socket)) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
