import { timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import ssh2 from 'ssh2';
import type { AuthContext, Connection, ServerChannel, Session } from 'ssh2';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { splice } from '../../common/splice.js';
import type { TunnelRegistry, RegistrationHandle, OwnerInfo } from '../tunnel-registry.js';
import { findKey, fingerprintOf, fromAllows, normalizeAddress, parseAuthorizedKeys, permitOpenAllows } from './authorized-keys.js';
import type { AuthorizedKey } from './authorized-keys.js';
import { channelStream } from './channel-stream.js';
import { DEFAULT_MAX_CIRCUITS_PER_KEY, DEFAULT_MAX_FORWARDS_PER_KEY, PerKeyLimit } from './key-limits.js';
import type { Traffic } from '../../common/traffic.js';
import { openAgentChannel } from './agent-channel.js';
import { ReverseProxy, proxiesLogin } from './reverse-proxy.js';
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

// Channel open failure reason codes (RFC 4254 §5.1).
const ADMINISTRATIVELY_PROHIBITED = 1;
const CONNECT_FAILED = 2;
const RESOURCE_SHORTAGE = 4;

/** Virtual ports handed out for `-R 0:...` (RFC 4254 §7.1): IANA's dynamic range. */
const DYNAMIC_PORTS = { first: 49152, last: 65535 };

/** The first dynamic port this connection does not forward yet. */
function allocatePort(taken: ReadonlyMap<number, unknown>): number | undefined {
  for (let port = DYNAMIC_PORTS.first; port <= DYNAMIC_PORTS.last; port++) if (!taken.has(port)) return port;
  return undefined;
}

/** Loads the host key, generating and saving an ed25519 key (mode 0600) if the file is missing. */
function loadHostKey(path: string, logger: Logger): { key: Buffer; fingerprint: string } {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new NetunnelError('CONFIG_INVALID', `Cannot read SSH host key ${path}: ${errorMessage(err)}`);
    }
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    key = Buffer.from(pair.private);
    logger.info({ path }, `Generated a new SSH host key in ${path}`);
  }
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    throw new NetunnelError('CONFIG_INVALID', `SSH host key ${path} is not a valid private key${first instanceof Error ? `: ${first.message}` : ''}`);
  }
  return { key, fingerprint: fingerprintOf(first.getPublicSSH()) };
}

/** The authorized_keys file, re-read when its mtime or size changes; the last good set stays in force. */
class AuthorizedKeysFile {
  private keys: AuthorizedKey[] = [];
  private stamp = '';

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {
    try {
      statSync(path);
    } catch (err) {
      throw new NetunnelError('CONFIG_INVALID', `SSH authorized_keys file ${path} cannot be read: ${errorMessage(err)}`);
    }
    this.current();
  }

  current(): AuthorizedKey[] {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      this.logger.error({ path: this.path }, `Cannot read ${this.path} (${errorMessage(err)}); keeping the last good keys`);
      return this.keys;
    }
    if (stamp === this.stamp) return this.keys;
    try {
      const { keys, problems } = parseAuthorizedKeys(readFileSync(this.path, 'utf8'));
      for (const p of problems) this.logger.warn(`${this.path} line ${p.line} skipped: ${p.message}`);
      this.keys = keys;
      this.stamp = stamp;
      this.logger.info(`Loaded ${keys.length} SSH key(s) from ${this.path}`);
    } catch (err) {
      this.logger.error(`Cannot read ${this.path} (${errorMessage(err)}); keeping the last good keys`);
    }
    return this.keys;
  }
}

/**
 * Rejects a channel open with a reason code and text. ssh2's `reject()` always sends
 * "connect failed" with an empty text, so the private protocol object's `channelOpenFail` is
 * swapped for the duration of the (synchronous) call; without it, the plain reject is used.
 */
function rejectWithReason(client: Connection, reject: () => void, reason: number, text: string): void {
  const proto = (client as unknown as { _protocol?: { channelOpenFail?: (...args: unknown[]) => void } })._protocol;
  const original = proto?.channelOpenFail;
  if (!proto || typeof original !== 'function') {
    reject();
    return;
  }
  proto.channelOpenFail = (recipient: unknown) => original.call(proto, recipient, reason, text);
  try {
    reject();
  } finally {
    proto.channelOpenFail = original;
  }
}

interface Forward {
  bindAddr: string;
  port: number;
  handle: RegistrationHandle;
  /** Gives the key's forward back to its limit. */
  release: () => void;
}

function dropForward(forward: Forward): void {
  forward.handle.unregister();
  forward.release();
}

export async function startSshFrontDoor(options: SshFrontDoorOptions): Promise<SshFrontDoor> {
  const { registry, logger } = options;
  const host = options.host ?? '127.0.0.1';
  const openTimeoutMs = options.openTimeoutMs ?? 15_000;
  const authTimeoutMs = options.authTimeoutMs ?? 30_000;
  const maxAuthAttempts = options.maxAuthAttempts ?? 10;
  const forwardLimit = new PerKeyLimit(options.maxForwardsPerKey ?? DEFAULT_MAX_FORWARDS_PER_KEY, 'forwarded ports', 'max_forwards_per_key');
  const circuitLimit = new PerKeyLimit(options.maxCircuitsPerKey ?? DEFAULT_MAX_CIRCUITS_PER_KEY, 'open circuits', 'max_circuits_per_key');
  const authorized = new AuthorizedKeysFile(options.authorizedKeysPath, logger);
  const hostKey = loadHostKey(options.hostKeyPath, logger);
  logger.info(`SSH host key ${options.hostKeyPath}: ${hostKey.fingerprint}`);
  const clients = new Set<Connection>();
  const authenticated = new WeakSet<Socket>();
  const upstreams = options.upstreams ?? [];
  const upstreamOpener: StreamOpener = options.destinations ?? { open: (host, port, originator) => registry.resolve(host, port).open(originator) };

  const server = new ssh2.Server({ hostKeys: [hostKey.key], ident: 'netunnel' }, (client, info) => {
    clients.add(client);
    const address = normalizeAddress(info.ip);
    const log = logger.child({ ssh: `${address}:${info.port}` });
    let key: AuthorizedKey | undefined;
    let username = '';
    let attempts = 0;
    const forwards = new Map<number, Forward>();
    /** This login's link upstream, for a key with access="proxy" (opened by its first session). */
    let proxy: ReverseProxy | undefined;
    const owner: OwnerInfo = { kind: 'ssh', address };

    client.on('error', (err) => log.debug({ err: errorMessage(err) }, 'SSH connection error'));
    client.on('close', () => {
      clients.delete(client);
      proxy?.close();
      if (!key) options.onAuthFailure?.();
      for (const forward of forwards.values()) dropForward(forward);
      if (forwards.size > 0) log.info(`SSH listener ${describe()} left; its ports ${[...forwards.keys()].join(', ')} are gone`);
      forwards.clear();
    });

    const names = (): string[] => (key ? [key.hostname ?? username, ...key.aliases] : []);
    const describe = (): string => `${names().join('/') || username} (${key?.fingerprint ?? 'no key'})`;

    client.on('authentication', (ctx: AuthContext) => {
      if (ctx.method !== 'publickey') {
        ctx.reject(['publickey']);
        return;
      }
      if (++attempts > maxAuthAttempts * 2) {
        log.info('Too many SSH authentication attempts; disconnecting');
        ctx.reject(['publickey']);
        client.end();
        return;
      }
      const found = findKey(authorized.current(), ctx.key.algo, ctx.key.data);
      if (!found) {
        log.debug({ user: ctx.username, key: fingerprintOf(ctx.key.data) }, 'Rejecting unknown SSH key');
        ctx.reject(['publickey']);
        return;
      }
      if (!fromAllows(found, address)) {
        log.info({ user: ctx.username, key: found.fingerprint }, `SSH key refused: from= does not allow ${address}`);
        ctx.reject(['publickey']);
        return;
      }
      if (!ctx.signature) {
        ctx.accept(); // a query: "would this key do?"
        return;
      }
      const ok =
        ctx.blob !== undefined &&
        found.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true &&
        timingSafeEqual(found.publicSSH, ctx.key.data);
      if (!ok) {
        log.info({ user: ctx.username, key: found.fingerprint }, 'SSH signature verification failed');
        ctx.reject(['publickey']);
        return;
      }
      key = found;
      username = ctx.username;
      if (found.access.size === 0) log.warn(`SSH key ${found.fingerprint} (line ${found.line}) has no access="..." option: it may do nothing`);
      ctx.accept();
    });

    client.on('ready', () => {
      const socket = (client as unknown as { _sock?: Socket })._sock;
      if (socket) authenticated.add(socket);
      log.info(`SSH client ${describe()} authenticated as ${username}`);
    });

    client.on('request', (accept, reject, name, info) => {
      const ok = (port?: number) => accept?.(port);
      const no = (why: string) => {
        log.info(`SSH ${name} refused for ${describe()}: ${why}`);
        reject?.();
      };
      if (!key) return no('not authenticated');
      if (name === 'tcpip-forward' && 'bindPort' in info) {
        if (!key.access.has('listen')) return no('no access="listen" permission');
        if (key.noPortForwarding) return no('no-port-forwarding is set for this key');
        if (forwards.has(info.bindPort)) return no(`port ${info.bindPort} is already forwarded on this connection`);
        const port = info.bindPort === 0 ? allocatePort(forwards) : info.bindPort;
        if (port === undefined) return no('no dynamic port is left on this connection');
        const bindAddr = info.bindAddr;
        let release: (() => void) | undefined;
        try {
          release = forwardLimit.take(key.fingerprint);
          const handle = registry.register(names(), port, { open: (originator) => openForwarded(client, bindAddr, port, originator, openTimeoutMs) }, owner);
          forwards.set(port, { bindAddr, port, handle, release });
        } catch (err) {
          release?.();
          return no(errorMessage(err));
        }
        log.info(`SSH listener ${describe()} registered port ${port}${info.bindPort === 0 ? ' (allocated for -R 0)' : ''}`);
        return ok(port);
      }
      if (name === 'cancel-tcpip-forward' && 'bindPort' in info) {
        const forward = forwards.get(info.bindPort);
        if (!forward) return no(`port ${info.bindPort} is not forwarded`);
        dropForward(forward);
        forwards.delete(info.bindPort);
        log.info(`SSH listener ${describe()} cancelled port ${info.bindPort}`);
        return ok();
      }
      return no('not supported');
    });

    client.on('tcpip', (accept, reject, info) => {
      const refuse = (reason: number, text: string) => {
        log.info(`SSH circuit to ${info.destIP}:${info.destPort} refused for ${describe()}: ${text}`);
        rejectWithReason(client, reject, reason, text);
      };
      if (!key || !key.access.has('initiate')) return refuse(ADMINISTRATIVELY_PROHIBITED, 'initiate permission required (access="initiate")');
      if (key.noPortForwarding) return refuse(ADMINISTRATIVELY_PROHIBITED, 'port forwarding is disabled for this key');
      if (!permitOpenAllows(key, info.destIP, info.destPort)) {
        return refuse(ADMINISTRATIVELY_PROHIBITED, `${info.destIP}:${info.destPort} is not allowed by permitopen for this key`);
      }
      let release: () => void;
      try {
        release = circuitLimit.take(key.fingerprint);
      } catch (err) {
        return refuse(RESOURCE_SHORTAGE, errorMessage(err));
      }
      let provider;
      try {
        provider = registry.resolve(info.destIP, info.destPort);
      } catch (err) {
        release();
        return refuse(CONNECT_FAILED, errorMessage(err));
      }
      provider.open({ host: info.srcIP, port: info.srcPort }).then(
        (target) => {
          if (!clients.has(client)) {
            release();
            target.destroy();
            return;
          }
          const channel = accept();
          channel.setMaxListeners?.(20);
          log.debug(`SSH circuit ${describe()} -> ${info.destIP}:${info.destPort} open`);
          void splice(channelStream(channel), target, { traffic: options.traffic }).then((result) => {
            release();
            log.debug({ ...result, error: result.error && errorMessage(result.error) }, `SSH circuit to ${info.destIP}:${info.destPort} closed`);
          });
        },
        (err: unknown) => {
          release();
          refuse(CONNECT_FAILED, errorMessage(err));
        },
      );
    });

    client.on('session', (accept) => {
      const session = accept();
      if (proxiesLogin(key, upstreams, username)) {
        const allows = (host: string, port: number) => !!key && permitOpenAllows(key, host, port);
        const agent = key?.noAgentForwarding ? {} : { agent: () => openAgentChannel(client).then(channelStream) };
        const accounting = { claim: () => circuitLimit.take(key!.fingerprint), ...(options.traffic ? { traffic: options.traffic } : {}) };
        proxy ??= new ReverseProxy({ rules: upstreams, login: username, opener: upstreamOpener, originator: { host: address, port: info.port }, timeoutMs: openTimeoutMs, logger: log, allows, accounting, ...agent });
        proxy.session(session);
        return;
      }
      handleSession(session, () => key, registry);
    });
  });

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
  const netServer = (server as unknown as { _srv?: import('node:net').Server })._srv;
  netServer?.on('connection', (socket: Socket) => {
    socket.setNoDelay(true);
    const timer = setTimeout(() => {
      if (authenticated.has(socket)) return;
      logger.info(`SSH client ${normalizeAddress(socket.remoteAddress ?? '?')}:${socket.remotePort} did not authenticate within ${authTimeoutMs / 1000} s; disconnecting`);
      socket.destroy();
    }, authTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  });
  const address = server.address() as import('node:net').AddressInfo;
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
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
}

/** Opens a forwarded-tcpip channel to a listening client, echoing its bind address byte for byte. */
function openForwarded(client: Connection, bindAddr: string, port: number, originator: { host: string; port: number }, timeoutMs: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new NetunnelError('TIMEOUT', `the listener did not accept the connection within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    try {
      client.forwardOut(bindAddr, port, originator.host, originator.port, (err, channel) => {
        clearTimeout(timer);
        if (done) {
          if (!err) channel.close();
          return;
        }
        done = true;
        if (err) {
          reject(new NetunnelError('REMOTE_ERROR', `the listener refused: ${err.message.replace(/^\(SSH\) Channel open failure: /, '') || 'no reason given'}`));
          return;
        }
        resolve(channelStream(channel as unknown as ServerChannel));
      });
    } catch (err) {
      clearTimeout(timer);
      done = true;
      reject(new NetunnelError('CHANNEL_CLOSED', `the listener is gone: ${errorMessage(err)}`));
    }
  });
}

const HELP = `netunnel SSH front door. Commands:
  list          the registered listeners (names, aliases, ports, addresses, since when)
  list --json   the same as JSON
  help          this text
`;

function handleSession(session: Session, key: () => AuthorizedKey | undefined, registry: TunnelRegistry): void {
  session.on('pty', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('window-change', (accept) => accept?.());
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('exec', (accept, reject, info) => {
    if (!accept) return reject?.();
    const channel = accept();
    channel.on('error', () => {});
    const words = info.command.trim().split(/\s+/);
    const finish = (code: number, out: string, err = '') => {
      if (out) channel.write(out);
      if (err) channel.stderr.write(err);
      channel.exit(code);
      channel.end();
    };
    if (words[0] === 'help' && words.length === 1) return finish(0, HELP);
    if (words[0] === 'list' && (words.length === 1 || (words.length === 2 && words[1] === '--json'))) {
      if (!key()?.access.has('initiate')) return finish(1, '', 'Permission denied: list needs access="initiate"\n');
      const rows = registry.list();
      if (words[1] === '--json') {
        return finish(0, `${JSON.stringify(rows.map((r) => ({ name: r.name, aliases: r.aliases, port: r.port, kind: r.owner.kind, address: r.owner.address, since: r.since.toISOString() })))}\n`);
      }
      const text = rows.length === 0 ? '  None\n' : rows.map((r) => `  ${r.name}:${r.port} aliases=${r.aliases.join(',')} ${r.owner.kind} ${r.owner.address ?? ''} since ${r.since.toISOString()}\n`).join('');
      return finish(0, `Listeners:\n${text}`);
    }
    return finish(1, '', `Unknown command "${info.command}". ${HELP}`);
  });
  session.on('shell', (accept) => {
    if (!accept) return;
    const channel = accept();
    channel.on('error', () => {});
    // A listener that forgot -N keeps its forwards while this session is open.
    channel.write(`netunnel SSH front door: no shell here; this session keeps your forwards open. Ctrl-C or Ctrl-D ends it.\r\n`);
    channel.on('data', (data: Buffer) => {
      if (data.includes(3) || data.includes(4)) {
        channel.exit(0);
        channel.end();
      }
    });
  });
}
