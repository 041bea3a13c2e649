import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerAuth } from '../common/auth.js';
import { NetunnelError } from '../common/errors.js';
import { routes } from '../common/protocol.js';

/**
 * Puts the server's auth plugin in front of the app: every request, websocket upgrades
 * included (their hooks run before the upgrade, so a refusal is an HTTP answer, not a
 * dropped socket), must pass `isAuthenticated`, except `POST /authenticate`, which the
 * plugin itself answers. Refusals are 403 JSON, whatever the plugin does wrong.
 */
export function installAuth(app: FastifyInstance, auth: ServerAuth, onRefused: () => void): void {
  app.addHook('onRequest', async (request) => {
    if (isAuthenticateRoute(request)) return;
    try {
      await checkRequest(auth, request);
    } catch (err) {
      onRefused();
      throw err;
    }
  });
  app.post(routes.authenticate(), async (request, reply) => {
    try {
      return await answerAuthenticate(auth, request, reply);
    } catch (err) {
      // A wrong secret is an auth failure too: a guessing caller shows in the metrics (a bad
      // body, a server without a plugin or a plugin too slow to answer refuses nobody's credentials).
      if (err instanceof NetunnelError && (err.statusCode === 401 || err.statusCode === 403)) onRefused();
      throw err;
    }
  });
}

function isAuthenticateRoute(request: FastifyRequest): boolean {
  return request.method === 'POST' && request.routeOptions.url === routes.authenticate();
}

async function checkRequest(auth: ServerAuth, request: FastifyRequest): Promise<void> {
  let allowed: boolean;
  try {
    allowed = await auth.isAuthenticated(request);
  } catch (err) {
    throw refusalFor(err, request);
  }
  if (!allowed) throw new NetunnelError('AUTH_FAILED', 'authentication required: the request carries no valid credentials for this server');
}

async function answerAuthenticate(auth: ServerAuth, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  let body: unknown;
  try {
    body = await auth.authenticate(request, reply);
  } catch (err) {
    // The plugin's own answers (wrong secret, bad body) go out as they are.
    if (err instanceof NetunnelError) throw err;
    throw refusalFor(err, request);
  }
  if (reply.sent) return reply;
  // Fastify wants something sent; "nothing" is the original's empty JSON-typed 200.
  return body === undefined ? reply.type('application/json').send('') : body;
}

/** A plugin's explained refusal (401/403) stands; anything else it throws is its bug: logged, and a plain 403. */
function refusalFor(err: unknown, request: FastifyRequest): NetunnelError {
  // A plugin too slow to answer is no refusal: the caller may try again (503).
  if (err instanceof NetunnelError && (err.statusCode === 401 || err.statusCode === 403 || err.code === 'TIMEOUT')) return err;
  request.log.warn({ err }, 'the auth plugin failed; refusing the request');
  return new NetunnelError('AUTH_FAILED', 'authentication failed: the auth plugin could not check this request (the server log has the details)');
}
