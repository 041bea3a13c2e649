import type { FastifyReply, FastifyRequest } from 'fastify';
import { NetunnelError } from './errors.js';

/**
 * Auth plugins (netunnel-wire.md §7): a deployment decides who may connect. A server
 * plugin checks every request and websocket upgrade; a client plugin obtains credentials
 * and adds them to every request and websocket handshake. Peers (server to server) get
 * their client plugin from the server plugin, built from the peer's stored `auth_data`.
 */

/** What a client plugin may use to authenticate: the server's URL and a POST that goes the client's way (proxy, TLS). */
export interface ClientAuthContext {
  readonly serverUrl: string;
  /** POSTs a JSON body to a path of the server; resolves the parsed answer, rejects with a RemoteError on an error answer. */
  post<T>(path: string, body: unknown): Promise<T>;
}

export interface ClientAuth {
  /** Gets fresh credentials (e.g. POST /authenticate). Throws a NetunnelError('AUTH_FAILED') when refused. */
  authenticate(context: ClientAuthContext): Promise<void>;
  /** False when the credentials are missing or about to expire: the client then calls authenticate() first. */
  isAuthenticated(): Promise<boolean>;
  /** Headers added to every REST call and websocket handshake. */
  getAuthorizedHeaders(): Promise<Record<string, string>>;
  /** The options that rebuild this plugin; persisted (encrypted) as a peer's `auth_data`. */
  dumpObject(): Record<string, unknown>;
}

export interface ServerAuth {
  /**
   * Called before every route but POST /authenticate, and before every websocket upgrade.
   * False refuses with 403; a plugin may instead throw NetunnelError('AUTH_FAILED', reason)
   * to tell the caller why (a 401 status on it is kept, for plugins that send a challenge).
   */
  isAuthenticated(request: FastifyRequest): Promise<boolean>;
  /** The handler of POST /authenticate; what it returns is the answer's body. */
  authenticate(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
  /** The client plugin a peer of this server uses. Throws NetunnelError('BAD_REQUEST') for unusable auth data. */
  getClientForPeer(authData: Record<string, unknown>): Promise<ClientAuth>;
}

/** The server default: everyone is let in, and there is nothing to authenticate with. */
export class ServerNoAuth implements ServerAuth {
  async isAuthenticated(): Promise<boolean> {
    return true;
  }

  async authenticate(): Promise<unknown> {
    // The original drops the connection here; a clear answer is kinder to a misconfigured client.
    throw new NetunnelError('NOT_FOUND', 'this server has no auth plugin: there is nothing to authenticate with, every request is allowed');
  }

  async getClientForPeer(): Promise<ClientAuth> {
    return new ClientNoAuth();
  }
}

/** The client default: no credentials. */
export class ClientNoAuth implements ClientAuth {
  async authenticate(): Promise<void> {}

  async isAuthenticated(): Promise<boolean> {
    return true;
  }

  async getAuthorizedHeaders(): Promise<Record<string, string>> {
    return {};
  }

  dumpObject(): Record<string, unknown> {
    return {};
  }
}
