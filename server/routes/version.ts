import type { FastifyPluginAsync } from 'fastify';
import { routes } from '../../common/protocol.js';

export const versionRoutes: FastifyPluginAsync<{ version: string }> = async (app, { version }) => {
  app.get(routes.version(), async (_request, reply) => reply.type('text/plain; charset=utf-8').send(version));
};
