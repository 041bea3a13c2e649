import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ClientAuth, ServerAuth } from './auth.js';
import { NetunnelError, errorMessage } from './errors.js';

const AUTH_PLUGIN_TIMEOUT_MS = 10_000;

/**
 * A server plugin whose every answer has a deadline: one stuck on its backend (a database, an
 * identity provider) would otherwise hold each request, and the server's shutdown, for ever.
 * And a plain error from getClientForPeer is the peer's unusable auth_data (400), as
 * ServerAuth asks, since a plugin written in JavaScript throws plain errors.
 */
export class BoundedServerAuth implements ServerAuth {
  readonly #plugin: ServerAuth;
  readonly #timeoutMs: number;

  constructor(plugin: ServerAuth, timeoutMs = AUTH_PLUGIN_TIMEOUT_MS) {
    this.#plugin = plugin;
    this.#timeoutMs = timeoutMs;
  }

  isAuthenticated(request: FastifyRequest): Promise<boolean> {
    return this.#bounded(() => this.#plugin.isAuthenticated(request), 'check the request');
  }

  authenticate(request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    return this.#bounded(() => this.#plugin.authenticate(request, reply), 'authenticate');
  }

  async getClientForPeer(authData: Record<string, unknown>): Promise<ClientAuth> {
    try {
      return await this.#bounded(() => this.#plugin.getClientForPeer(authData), "take the peer's auth_data");
    } catch (err) {
      if (err instanceof NetunnelError) throw err;
      throw new NetunnelError('BAD_REQUEST', `the auth plugin refused the peer's auth_data: ${errorMessage(err)}`, { cause: err });
    }
  }

  #bounded<T>(call: () => Promise<T>, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(
        () => reject(new NetunnelError('TIMEOUT', `the auth plugin did not ${what} within ${this.#timeoutMs / 1000} s; try again later`, { statusCode: 503 })),
        this.#timeoutMs,
      );
    });
    return Promise.race([new Promise<T>((resolve) => resolve(call())), deadline]).finally(() => clearTimeout(timer));
  }
}
