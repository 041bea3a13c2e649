import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../../common/protocol.js';

/**
 * The plain-HTTP answer of a websocket route (its `handler`, beside the `wsHandler`):
 * @fastify/websocket's own is an empty 404, which says the channel or tunnel is not there.
 */
export function upgradeRequired(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const body: ErrorBody = { error: `${request.url} takes a websocket: ask with "Upgrade: websocket"`, code: 'UPGRADE_REQUIRED' };
  return reply.code(426).header('upgrade', 'websocket').send(body);
}
