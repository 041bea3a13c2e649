import type { FastifyReply, FastifyRequest } from 'fastify';
import { NetunnelError } from '../../common/errors.js';

/**
 * The plain-HTTP answer of a websocket route (its `handler`, beside the `wsHandler`):
 * @fastify/websocket's own is an empty 404, which says the channel or tunnel is not there.
 */
export function upgradeRequired(request: FastifyRequest, reply: FastifyReply): never {
  reply.header('upgrade', 'websocket');
  throw new NetunnelError('UPGRADE_REQUIRED', `${request.url} takes a websocket: ask with "Upgrade: websocket"`);
}
