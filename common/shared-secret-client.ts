import type { ClientAuth, ClientAuthContext } from './auth.js';
import { NetunnelError, RemoteError } from './errors.js';
import { readJwtClaims } from './jwt.js';
import { routes } from './protocol.js';
import { requireSecret } from './shared-secret-options.js';

/** Renew when this share of the token's life is left, capped, but never later than the floor. */
const RENEW_SHARE = 0.1;
const RENEW_CAP_MS = 30_000;
const RENEW_FLOOR_MS = 1_000;

/**
 * The client side of the shared-secret plugin: trades the secret for a token and sends it
 * as `Authorization: Bearer <token>`. It asks for a new token shortly before the old one
 * expires, so a long-running client never presents an expired one.
 */
export class SharedSecretClientAuth implements ClientAuth {
  readonly #secret: string;
  readonly #nowMs: () => number;
  #token: { value: string; renewAtMs: number } | undefined;

  constructor(options: { secret: string }, nowMs: () => number = Date.now) {
    this.#secret = requireSecret(options, 'the shared-secret client plugin');
    this.#nowMs = nowMs;
  }

  async authenticate(context: ClientAuthContext): Promise<void> {
    let answer: { token?: unknown } | undefined;
    try {
      answer = await context.post<{ token?: unknown }>(routes.authenticate(), { secret: this.#secret });
    } catch (err) {
      if (err instanceof RemoteError && (err.statusCode === 401 || err.statusCode === 403)) {
        throw new NetunnelError('AUTH_FAILED', `the server at ${context.serverUrl} refused the shared secret: ${err.message}`, { cause: err });
      }
      throw err;
    }
    if (typeof answer?.token !== 'string') throw new NetunnelError('PROTOCOL', 'the server answered POST /authenticate without a token');
    this.#token = { value: answer.token, renewAtMs: this.#renewalTime(answer.token) };
  }

  async isAuthenticated(): Promise<boolean> {
    return this.#token !== undefined && this.#nowMs() < this.#token.renewAtMs;
  }

  async getAuthorizedHeaders(): Promise<Record<string, string>> {
    return this.#token ? { authorization: `Bearer ${this.#token.value}` } : {};
  }

  dumpObject(): Record<string, unknown> {
    return { secret: this.#secret };
  }

  /** When to stop using a token. Clocks may differ from the server's: a token it refuses early is renewed on the 403. */
  #renewalTime(token: string): number {
    const now = this.#nowMs();
    const exp = readJwtClaims(token).exp;
    // A token without expiry (not ours) is used until the server refuses it.
    if (typeof exp !== 'number') return Infinity;
    const lifetimeMs = exp * 1000 - now;
    const marginMs = Math.max(RENEW_FLOOR_MS, Math.min(lifetimeMs * RENEW_SHARE, RENEW_CAP_MS));
    return now + lifetimeMs - marginMs;
  }
}
