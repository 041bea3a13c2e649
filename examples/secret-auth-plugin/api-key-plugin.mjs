// A netunnel auth plugin of one's own: every request and websocket handshake carries a
// fixed API key in an `X-Api-Key` header. Plain JavaScript, so it runs without a build:
//
//   netunnel-server --auth-plugin ./examples/secret-auth-plugin/api-key-plugin.mjs:ApiKeyServerAuth --auth-data '{"key":"s3cret"}'
//   netunnel-client --auth-plugin ./examples/secret-auth-plugin/api-key-plugin.mjs:ApiKeyClientAuth --auth-data '{"key":"s3cret"}' ...
//
// The classes follow the interfaces of netunnel's common/auth.ts (ServerAuth, ClientAuth).
import { createHash, timingSafeEqual } from 'node:crypto';

const HEADER = 'x-api-key';

function requireKey(options) {
  if (typeof options?.key !== 'string' || options.key === '') {
    // Thrown at start-up: netunnel prints the message and exits with code 2.
    throw new Error('the API-key plugin needs a non-empty string "key", e.g. {"key": "s3cret"}');
  }
  return options.key;
}

// Hashing both sides first makes the comparison take the same time whatever the key's length.
function sameKey(given, key) {
  const digest = (text) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(key));
}

export class ApiKeyServerAuth {
  #key;

  constructor(options) {
    this.#key = requireKey(options);
  }

  // Called before every request and websocket upgrade; false answers 403.
  async isAuthenticated(request) {
    const given = request.headers[HEADER];
    return typeof given === 'string' && sameKey(given, this.#key);
  }

  // The handler of POST /authenticate: there is nothing to trade here, the key is the credential.
  async authenticate(_request, reply) {
    reply.code(404);
    return { error: `no login needed with this plugin: send the ${HEADER} header`, code: 'NOT_FOUND' };
  }

  // How this server's peers authenticate to other servers, from their stored auth_data.
  async getClientForPeer(authData) {
    return new ApiKeyClientAuth(authData);
  }
}

export class ApiKeyClientAuth {
  #key;

  constructor(options) {
    this.#key = requireKey(options);
  }

  // Nothing to fetch: the key never expires.
  async authenticate() {}

  async isAuthenticated() {
    return true;
  }

  async getAuthorizedHeaders() {
    return { [HEADER]: this.#key };
  }

  dumpObject() {
    return { key: this.#key };
  }
}
