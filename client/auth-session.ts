import { ClientNoAuth } from '../common/auth.js';
import type { ClientAuth, ClientAuthContext } from '../common/auth.js';
import { NetunnelError, RemoteError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

/** Sends a request (REST call or websocket handshake) with the given credential headers. */
export type AuthorizedSend<T> = (headers: Record<string, string>) => Promise<T>;

/**
 * A client's use of its auth plugin: credentials are obtained before the first request and
 * renewed whenever the plugin says they are stale, or once when the server refuses them.
 * Renewals wanted at the same time share one `authenticate` call.
 */
export class ClientAuthSession {
  readonly #plugin: ClientAuth;
  readonly #context: ClientAuthContext;
  readonly #logger: Logger;
  #renewal: Promise<void> | undefined;
  /** Counts completed renewals, so a request refused with old credentials does not renew again. */
  #generation = 0;

  constructor(plugin: ClientAuth | undefined, context: ClientAuthContext, logger: Logger) {
    this.#plugin = plugin ?? new ClientNoAuth();
    this.#context = context;
    this.#logger = logger;
  }

  /** Runs `send` with fresh credentials; when the server refuses them, renews and sends once more. */
  async authorize<T>(send: AuthorizedSend<T>): Promise<T> {
    const generation = await this.#ensureFresh();
    try {
      return await send(await this.#plugin.getAuthorizedHeaders());
    } catch (err) {
      if (!isAuthRefusal(err)) throw err;
      if (this.#plugin instanceof ClientNoAuth) throw noCredentials(err);
      this.#logger.debug({ err }, 'the server refused our credentials; authenticating again');
    }
    await this.#renew(generation);
    try {
      return await send(await this.#plugin.getAuthorizedHeaders());
    } catch (err) {
      throw isAuthRefusal(err) ? new NetunnelError('AUTH_FAILED', `the server refused our fresh credentials: ${err.message}`, { cause: err }) : err;
    }
  }

  async #ensureFresh(): Promise<number> {
    const seen = this.#generation;
    if (this.#renewal) await this.#renewal;
    else if (!(await this.#plugin.isAuthenticated())) await this.#renew(seen);
    return this.#generation;
  }

  /** Authenticates, unless a renewal is running (joined) or finished since `seen` (not needed). */
  #renew(seen: number): Promise<void> {
    if (this.#renewal) return this.#renewal;
    if (seen !== this.#generation) return Promise.resolve();
    this.#logger.debug('authenticating with the server');
    this.#renewal = this.#plugin
      .authenticate(this.#context)
      .then(() => void this.#generation++)
      .finally(() => (this.#renewal = undefined));
    return this.#renewal;
  }
}

/**
 * A refusal that fresh credentials may cure: 401, or 403 from netunnel's auth check
 * (code AUTH_FAILED) or from an original server (which gives no code). A netunnel 403 for
 * a refused destination is not one.
 */
function isAuthRefusal(err: unknown): err is RemoteError {
  if (!(err instanceof RemoteError)) return false;
  if (err.statusCode === 401) return true;
  return err.statusCode === 403 && (err.remoteCode === undefined || err.remoteCode === 'AUTH_FAILED');
}

function noCredentials(err: RemoteError): NetunnelError {
  return new NetunnelError(
    'AUTH_FAILED',
    `the server requires authentication and no auth plugin is configured (--auth-plugin, --auth-data): ${err.message}`,
    { cause: err },
  );
}
