import { timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AuthContext, ClientInfo, Connection, ServerChannel, Session, SocketBindInfo, TcpipBindInfo, TcpipRequestInfo } from 'ssh2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { splice } from '../../common/splice.js';
import type { Traffic } from '../../common/traffic.js';
import type { OwnerInfo, RegistrationHandle, TunnelRegistry } from '../tunnel-registry.js';
import { openAgentChannel } from './agent-channel.js';
import { fingerprintOf, fromAllows, linesWithKey, notExpired, permitListenAllows, permitOpenAllows } from './authorized-keys.js';
import { normalizeAddress } from './from-patterns.js';
import type { AuthorizedKey } from './authorized-keys.js';
import type { AuthorizedKeysFile } from './authorized-keys-file.js';
import { handleSession } from './builtin-session.js';
import { hangUp, socketOf } from './hang-up.js';
import { ADMINISTRATIVELY_PROHIBITED, CONNECT_FAILED, RESOURCE_SHORTAGE, openForwarded, rejectWithReason } from './channel-open.js';
import { channelStream } from './channel-stream.js';
import type { PerKeyLimit } from './key-limits.js';
import { ReverseProxy, proxiesLogin } from './reverse-proxy.js';
import type { StreamOpener } from './upstream-connection.js';
import type { UpstreamRule } from './upstream-rules.js';

/** What every connection of one front door shares. */
export interface DoorContext {
  registry: TunnelRegistry;
  authorized: AuthorizedKeysFile;
  forwardLimit: PerKeyLimit;
  circuitLimit: PerKeyLimit;
  /** The connections open now. */
  clients: Set<Connection>;
  /** Sockets past authentication, which the login grace timer leaves alone. */
  authenticated: WeakSet<Socket>;
  upstreams: readonly UpstreamRule[];
  upstreamOpener: StreamOpener;
  openTimeoutMs: number;
  maxAuthAttempts: number;
  traffic?: Traffic;
  onAuthFailure?: () => void;
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

/** Virtual ports handed out for `-R 0:...` (RFC 4254 §7.1): IANA's dynamic range. */
const DYNAMIC_PORTS = { first: 49152, last: 65535 };

/** The first dynamic port not in `taken`. */
function allocatePort(taken: ReadonlySet<number>): number | undefined {
  for (let port = DYNAMIC_PORTS.first; port <= DYNAMIC_PORTS.last; port++) if (!taken.has(port)) return port;
  return undefined;
}

/**
 * One SSH client of the front door: its public-key login, the virtual ports it listens on
 * (`tcpip-forward`), the circuits it initiates (`direct-tcpip`), and its sessions (built-in
 * commands, or the reverse proxy for access="proxy").
 */
export class SshConnection {
  readonly #client: Connection;
  readonly #door: DoorContext;
  readonly #address: string;
  readonly #port: number;
  readonly #log: Logger;
  readonly #owner: OwnerInfo;
  readonly #forwards = new Map<number, Forward>();
  #key: AuthorizedKey | undefined;
  #username = '';
  #attempts = 0;
  /** This login's link upstream, for a key with access="proxy" (opened by its first session). */
  #proxy: ReverseProxy | undefined;

  constructor(client: Connection, info: ClientInfo, door: DoorContext, logger: Logger) {
    this.#client = client;
    this.#door = door;
    this.#address = normalizeAddress(info.ip);
    this.#port = info.port;
    this.#log = logger.child({ ssh: `${this.#address}:${info.port}` });
    this.#owner = { kind: 'ssh', address: this.#address };
    door.clients.add(client);
    client.on('error', (err: Error & { level?: string }) => {
      // ssh2 ends the connection itself after a keepalive timeout, and waits for a FIN that a
      // client which stopped answering never sends.
      if (err.level === 'client-timeout') {
        this.#log.info(`SSH client ${this.#describe()} stopped answering keepalives; disconnecting`);
        hangUp(client);
        return;
      }
      this.#log.debug({ err: errorMessage(err) }, 'SSH connection error');
    });
    client.on('close', () => this.#closed());
    client.on('authentication', (ctx) => this.#authenticate(ctx));
    client.on('ready', () => this.#ready());
    client.on('request', (accept, reject, name, info) => this.#request(name, info, (port) => accept?.(port), reject));
    client.on('tcpip', (accept, reject, info) => this.#circuit(accept, reject, info));
    client.on('session', (accept) => this.#session(accept));
  }

  #names(): string[] {
    return this.#key ? [this.#key.hostname ?? this.#username, ...this.#key.aliases] : [];
  }

  #describe(): string {
    return `${this.#names().join('/') || this.#username} (${this.#key?.fingerprint ?? 'no key'})`;
  }

  #closed(): void {
    this.#door.clients.delete(this.#client);
    this.#proxy?.close();
    if (!this.#key) this.#door.onAuthFailure?.();
    for (const forward of this.#forwards.values()) dropForward(forward);
    if (this.#forwards.size > 0) this.#log.info(`SSH listener ${this.#describe()} left; its ports ${[...this.#forwards.keys()].join(', ')} are gone`);
    this.#forwards.clear();
  }

  #authenticate(ctx: AuthContext): void {
    const log = this.#log;
    if (ctx.method !== 'publickey') {
      ctx.reject(['publickey']);
      return;
    }
    if (++this.#attempts > this.#door.maxAuthAttempts * 2) {
      log.info('Too many SSH authentication attempts; disconnecting');
      ctx.reject(['publickey']);
      hangUp(this.#client);
      return;
    }
    const lines = linesWithKey(this.#door.authorized.current(), ctx.key.algo, ctx.key.data);
    if (lines.length === 0) {
      log.debug({ user: ctx.username, key: fingerprintOf(ctx.key.data) }, 'Rejecting unknown SSH key');
      ctx.reject(['publickey']);
      return;
    }
    // As sshd: the first line with this key whose from= and expiry-time= admit the client is the one used.
    const found = lines.find((line) => fromAllows(line, this.#address) && notExpired(line));
    if (!found) {
      const why = lines.some((line) => fromAllows(line, this.#address)) ? 'its expiry-time has passed' : `from= does not allow ${this.#address}`;
      log.info({ user: ctx.username, key: lines[0]!.fingerprint }, `SSH key refused: ${why}`);
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
    this.#key = found;
    this.#username = ctx.username;
    if (found.access.size === 0) log.warn(`SSH key ${found.fingerprint} (line ${found.line}) has no access="..." option: it may do nothing`);
    ctx.accept();
  }

  #ready(): void {
    const socket = socketOf(this.#client);
    if (socket) this.#door.authenticated.add(socket);
    this.#log.info(`SSH client ${this.#describe()} authenticated as ${this.#username}`);
  }

  /** Global requests: `tcpip-forward` registers a virtual port in the registry, `cancel-tcpip-forward` drops it. */
  #request(name: string, info: TcpipBindInfo | SocketBindInfo, ok: (port?: number) => void, reject: (() => void) | undefined): void {
    const key = this.#key;
    const no = (why: string) => {
      this.#log.info(`SSH ${name} refused for ${this.#describe()}: ${why}`);
      reject?.();
    };
    if (!key) return no('not authenticated');
    if (!('bindPort' in info)) return no('not supported');
    if (name === 'tcpip-forward') {
      if (!key.access.has('listen')) return no('no access="listen" permission');
      if (key.noPortForwarding) return no('no-port-forwarding is set for this key');
      if (this.#forwards.has(info.bindPort)) return no(`port ${info.bindPort} is already forwarded on this connection`);
      // As sshd, -R 0 needs permitlisten to allow any port.
      if (!permitListenAllows(key, info.bindPort)) return no(`port ${info.bindPort} is not allowed by permitlisten for this key`);
      const port = info.bindPort === 0 ? this.#freeDynamicPort() : info.bindPort;
      if (port === undefined) return no('no dynamic port is left under these names');
      const bindAddr = info.bindAddr;
      let release: (() => void) | undefined;
      try {
        release = this.#door.forwardLimit.take(key.fingerprint);
        const target = { client: this.#client, bindAddr, port, gone: () => !this.#door.clients.has(this.#client) };
        const provider = { open: (originator: { host: string; port: number }) => openForwarded(target, originator, this.#door.openTimeoutMs) };
        const handle = this.#door.registry.register(this.#names(), port, provider, this.#owner);
        this.#forwards.set(port, { bindAddr, port, handle, release });
      } catch (err) {
        release?.();
        return no(errorMessage(err));
      }
      this.#log.info(`SSH listener ${this.#describe()} registered port ${port}${info.bindPort === 0 ? ' (allocated for -R 0)' : ''}`);
      return ok(port);
    }
    if (name === 'cancel-tcpip-forward') {
      const forward = this.#forwards.get(info.bindPort);
      if (!forward) return no(`port ${info.bindPort} is not forwarded`);
      dropForward(forward);
      this.#forwards.delete(info.bindPort);
      this.#log.info(`SSH listener ${this.#describe()} cancelled port ${info.bindPort}`);
      return ok();
    }
    return no('not supported');
  }

  /**
   * For `-R 0`: a port no one holds under this connection's names, so the port reported back
   * reaches this client, not a newer or older listener of the same name.
   */
  #freeDynamicPort(): number | undefined {
    const taken = this.#door.registry.portsUnder(this.#names());
    for (const port of this.#forwards.keys()) taken.add(port);
    return allocatePort(taken);
  }

  /** `direct-tcpip` (ssh -W, -L, -D, -J): a circuit to a destination resolved through the registry. */
  #circuit(accept: () => ServerChannel, reject: () => void, info: TcpipRequestInfo): void {
    const key = this.#key;
    const where = `${info.destIP}:${info.destPort}`;
    const refuse = (reason: number, text: string) => {
      this.#log.info(`SSH circuit to ${where} refused for ${this.#describe()}: ${text}`);
      rejectWithReason(this.#client, reject, reason, text);
    };
    if (!key || !key.access.has('initiate')) return refuse(ADMINISTRATIVELY_PROHIBITED, 'initiate permission required (access="initiate")');
    if (key.noPortForwarding) return refuse(ADMINISTRATIVELY_PROHIBITED, 'port forwarding is disabled for this key');
    if (!permitOpenAllows(key, info.destIP, info.destPort)) {
      return refuse(ADMINISTRATIVELY_PROHIBITED, `${where} is not allowed by permitopen for this key`);
    }
    let release: () => void;
    try {
      release = this.#door.circuitLimit.take(key.fingerprint);
    } catch (err) {
      return refuse(RESOURCE_SHORTAGE, errorMessage(err));
    }
    let provider;
    try {
      provider = this.#door.registry.resolve(info.destIP, info.destPort);
    } catch (err) {
      release();
      return refuse(CONNECT_FAILED, errorMessage(err));
    }
    provider.open({ host: info.srcIP, port: info.srcPort }).then(
      (target) => {
        if (!this.#door.clients.has(this.#client)) {
          release();
          target.destroy();
          return;
        }
        const channel = accept();
        channel.setMaxListeners?.(20);
        this.#log.debug(`SSH circuit ${this.#describe()} -> ${where} open`);
        void splice(channelStream(channel), target, { traffic: this.#door.traffic }).then((result) => {
          release();
          this.#log.debug({ ...result, error: result.error && errorMessage(result.error) }, `SSH circuit to ${where} closed`);
        });
      },
      (err: unknown) => {
        release();
        refuse(CONNECT_FAILED, errorMessage(err));
      },
    );
  }

  #session(accept: () => Session): void {
    const session = accept();
    const key = this.#key;
    const { upstreams, upstreamOpener, openTimeoutMs, circuitLimit, traffic } = this.#door;
    if (!key || !proxiesLogin(key, upstreams, this.#username)) {
      handleSession(session, () => this.#key, this.#door.registry);
      return;
    }
    const allows = (host: string, port: number) => permitOpenAllows(key, host, port);
    const agent = key.noAgentForwarding ? {} : { agent: () => openAgentChannel(this.#client).then(channelStream) };
    const accounting = { claim: () => circuitLimit.take(key.fingerprint), ...(traffic ? { traffic } : {}) };
    this.#proxy ??= new ReverseProxy({
      rules: upstreams,
      login: this.#username,
      opener: upstreamOpener,
      originator: { host: this.#address, port: this.#port },
      timeoutMs: openTimeoutMs,
      logger: this.#log,
      allows,
      accounting,
      ...agent,
    });
    this.#proxy.session(session);
  }
}
