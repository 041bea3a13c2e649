import type { Logger } from 'pino';
import type { ClientAuth, ServerAuth } from '../../common/auth.js';
import { NetunnelError, RemoteError, errorMessage } from '../../common/errors.js';
import type { ProxyOptions } from '../../common/proxy-connect.js';
import type { Traffic } from '../../common/traffic.js';
import { NetunnelClient } from '../../client/client.js';
import type { NetunnelClientOptions } from '../../client/client.js';
import type { ServerConfig } from '../config/defaults.js';
import type { ConfigStore } from '../config/store.js';

/** What reaching one peer needs: its URL and its auth plugin options (already decrypted). */
export interface PeerTarget {
  name: string;
  url: string;
  authData: Record<string, unknown>;
}

/**
 * How this server reaches its peers: through the global HTTP proxy, with certificate checks
 * unless `allow_unverified_ssl_peers`, and with the client plugin the server's auth plugin
 * makes from the peer's auth data. Read at every connection, so a changed proxy applies to
 * the next attempt.
 */
export class PeerConnector {
  readonly #config: ConfigStore;
  readonly #auth: ServerAuth;
  readonly #logger: Logger;
  readonly #traffic: Traffic;

  constructor(deps: { config: ConfigStore; auth: ServerAuth; logger: Logger; traffic: Traffic }) {
    this.#config = deps.config;
    this.#auth = deps.auth;
    this.#logger = deps.logger;
    this.#traffic = deps.traffic;
  }

  async clientOptions(target: PeerTarget): Promise<NetunnelClientOptions> {
    const config = this.#config.config;
    return {
      serverUrl: target.url,
      logger: this.#logger.child({ peer: target.name }),
      auth: await this.clientAuth(target),
      proxy: this.#proxy(config),
      tls: config.allow_unverified_ssl_peers ? { rejectUnauthorized: false } : undefined,
      traffic: this.#traffic,
    };
  }

  /** The peer's client plugin; unusable auth data is the caller's mistake (400). */
  clientAuth(target: PeerTarget): Promise<ClientAuth> {
    return this.#auth.getClientForPeer(target.authData);
  }

  /** A full session (channel, websocket, version), as registering a peer requires. */
  async verify(target: PeerTarget): Promise<void> {
    const client = new NetunnelClient(await this.clientOptions(target));
    try {
      await client.connect();
      await client.getVersion();
    } catch (err) {
      throw describeFailure(target.name, err);
    } finally {
      await client.close();
    }
  }

  #proxy(config: Readonly<ServerConfig>): ProxyOptions | undefined {
    const stored = config.http_proxy;
    if (!stored?.proxy_url) return undefined;
    const reveal = (token: string | null | undefined) => (token ? this.#config.decryptSecret(token) : undefined);
    return { url: stored.proxy_url, username: reveal(stored.username), password: reveal(stored.password) };
  }
}

function describeFailure(name: string, err: unknown): NetunnelError {
  const refused = (err instanceof NetunnelError && err.code === 'AUTH_FAILED') || (err instanceof RemoteError && err.statusCode === 403);
  if (refused) return new NetunnelError('AUTH_FAILED', `Failed to authenticate with peer \`${name}\`: ${errorMessage(err)}`, { cause: err });
  return new NetunnelError('PEER_UNREACHABLE', `Failed to connect with peer \`${name}\`: ${errorMessage(err)}`, { cause: err });
}
