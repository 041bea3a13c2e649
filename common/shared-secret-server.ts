import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { ClientAuth, ServerAuth } from './auth.js';
import { NetunnelError } from './errors.js';
import { signJwt, verifyJwt } from './jwt.js';
import { SharedSecretClientAuth } from './shared-secret-client.js';
import { requireSecret } from './shared-secret-options.js';
import type { SharedSecretOptions } from './shared-secret-options.js';

const DEFAULT_TOKEN_LIFETIME_S = 1800;

/**
 * The built-in shared-secret plugin, wire compatible with the original's example plugin:
 * `POST /authenticate {"secret": s}` answers `{"token": <JWT HS256 signed with s>}`, and
 * requests carry `Authorization: <type> <token>`. Unlike the original, an expired token is
 * a 403 (not a 500) and the lifetime is configurable.
 */
export class SharedSecretServerAuth implements ServerAuth {
  readonly #secret: string;
  readonly #tokenLifetimeS: number;
  readonly #nowMs: () => number;

  constructor(options: SharedSecretOptions, nowMs: () => number = Date.now) {
    this.#secret = requireSecret(options, 'the shared-secret server plugin');
    const lifetime = options.token_lifetime ?? DEFAULT_TOKEN_LIFETIME_S;
    if (typeof lifetime !== 'number' || !Number.isFinite(lifetime) || lifetime <= 0) {
      throw new NetunnelError('BAD_REQUEST', 'the shared-secret server plugin\'s "token_lifetime" must be a positive number of seconds');
    }
    this.#tokenLifetimeS = lifetime;
    this.#nowMs = nowMs;
  }

  async authenticate(request: FastifyRequest): Promise<{ token: string }> {
    const given = (request.body as { secret?: unknown } | undefined)?.secret;
    if (typeof given !== 'string') throw new NetunnelError('BAD_REQUEST', 'POST /authenticate needs a JSON body {"secret": "<shared secret>"}');
    if (!sameSecret(given, this.#secret)) throw new NetunnelError('AUTH_FAILED', 'wrong secret');
    // Seconds, with a fraction, as the original's time.time() + lifetime.
    return { token: signJwt({ exp: this.#nowMs() / 1000 + this.#tokenLifetimeS }, this.#secret) };
  }

  async isAuthenticated(request: FastifyRequest): Promise<boolean> {
    const words = request.headers.authorization?.split(' ') ?? [];
    // Two words, the type not checked: what the original accepts.
    if (words.length !== 2) throw refused('no token: send "Authorization: Bearer <token>" (get one with POST /authenticate)');
    let exp: unknown;
    try {
      exp = verifyJwt(words[1]!, this.#secret).exp;
    } catch (err) {
      throw refused((err as Error).message);
    }
    if (typeof exp !== 'number') throw refused('the token has no expiry');
    if (exp * 1000 <= this.#nowMs()) throw refused('the token has expired; authenticate again');
    return true;
  }

  async getClientForPeer(authData: Record<string, unknown>): Promise<ClientAuth> {
    return new SharedSecretClientAuth(authData as unknown as SharedSecretOptions);
  }
}

/** Compares digests so neither the content nor the length of the secret leaks through timing. */
function sameSecret(given: string, secret: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(secret));
}

function refused(reason: string): NetunnelError {
  return new NetunnelError('AUTH_FAILED', reason);
}
