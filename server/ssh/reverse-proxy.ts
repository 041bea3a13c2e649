import type { Duplex } from 'node:stream';
import type { Client, Session } from 'ssh2';
import { NetunnelError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Originator } from '../tunnel-registry.js';
import type { AuthorizedKey } from './authorized-keys.js';
import { proxySession } from './proxy-session.js';
import type { SessionAccounting } from './proxy-session.js';
import { connectUpstream } from './upstream-connection.js';
import type { StreamOpener } from './upstream-connection.js';
import { matchUpstream } from './upstream-rules.js';
import type { UpstreamRule } from './upstream-rules.js';

/**
 * Whether this login's sessions go upstream: the key has access="proxy", and a rule takes the
 * login name or the key can do nothing else (then the session says that no rule matched).
 */
export function proxiesLogin(key: AuthorizedKey | undefined, rules: readonly UpstreamRule[], login: string): boolean {
  if (!key?.access.has('proxy')) return false;
  if (!key.access.has('listen') && !key.access.has('initiate')) return true;
  try {
    matchUpstream(rules, login);
    return true;
  } catch {
    return false;
  }
}

export interface ReverseProxyOptions {
  rules: readonly UpstreamRule[];
  login: string;
  opener: StreamOpener;
  originator: Originator;
  timeoutMs: number;
  logger: Logger;
  /** The key's own limit on where it may go (permitopen=), as for its -W circuits. */
  allows: (host: string, port: number) => boolean;
  /** Opens a channel to the client's ssh-agent; absent when the key has no-agent-forwarding. */
  agent?: () => Promise<Duplex>;
  /** Each session is one of the key's circuits, and counts in the SSH door's traffic. */
  accounting: SessionAccounting;
}

/**
 * One client connection's link to its upstream SSH server: opened by the first session, shared
 * by the others, closed with the client's connection. Each session is replayed upstream (pty,
 * env, then shell, exec or subsystem) and relayed byte for byte, exit status included.
 */
export class ReverseProxy {
  readonly #options: ReverseProxyOptions;
  #upstream: Promise<Client> | undefined;
  #closed = false;

  constructor(options: ReverseProxyOptions) {
    this.#options = options;
  }

  session(session: Session): void {
    proxySession(session, () => this.#connect(), this.#agentAllowed(), this.#options.logger, this.#options.accounting);
  }

  /** Whether a session's agent request (ssh -A) may be granted: the rule and the key both allow it. */
  #agentAllowed(): boolean {
    if (!this.#options.agent) return false;
    try {
      return matchUpstream(this.#options.rules, this.#options.login).agentForwarding;
    } catch {
      return false;
    }
  }

  close(): void {
    this.#closed = true;
    void this.#upstream?.then((client) => client.end(), () => {});
  }

  #connect(): Promise<Client> {
    if (this.#upstream) return this.#upstream;
    const upstream = this.#open();
    this.#upstream = upstream;
    // A later session gets a new upstream connection, not a failed or dead one (the upstream may be back).
    const forget = () => {
      if (this.#upstream === upstream) this.#upstream = undefined;
    };
    upstream.then((client) => {
      client.once('end', forget);
      client.once('close', forget);
    }, forget);
    return upstream;
  }

  async #open(): Promise<Client> {
    const { rules, login, logger } = this.#options;
    const target = matchUpstream(rules, login);
    if (!this.#options.allows(target.host, target.port)) {
      throw new NetunnelError('FORBIDDEN', `${target.host}:${target.port} is not allowed by permitopen for this key`);
    }
    const { agent, ...options } = this.#options;
    const client = await connectUpstream(target, { ...options, ...(target.agentForwarding && agent ? { agent } : {}) });
    logger.info(`SSH login "${login}" proxied to ${target.user}@${target.host}:${target.port}`);
    if (this.#closed) client.end();
    return client;
  }
}
