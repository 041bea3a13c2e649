import type { FastifyReply } from 'fastify';

/** The original answers "no content" as 200 with an empty JSON-typed body (netunnel-wire.md §2.1). */
export function noContent(reply: FastifyReply): FastifyReply {
  return reply.code(200).type('application/json').send('');
}
