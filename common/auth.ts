import type { FastifyReply, FastifyRequest } from 'fastify';

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
  /** Called before every route but POST /authenticate, and before every websocket upgrade. */
  isAuthenticated(request: FastifyRequest): Promise<boolean>;
  /** The handler of POST /authenticate; what it returns is the answer's body. */
  authenticate(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
  /** The client plugin a peer of this server uses. Throws NetunnelError('BAD_REQUEST') for unusable auth data. */
  getClientForPeer(authData: Record<string, unknown>): Promise<ClientAuth>;
}
