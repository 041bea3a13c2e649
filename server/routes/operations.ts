import type { FastifyPluginAsync } from 'fastify';
import { routes } from '../../common/protocol.js';
import type { StatusResponse } from '../../common/protocol.js';
import type { ServerMetrics } from '../metrics.js';

/** `/status` (JSON, for people and scripts) and `/metrics` (Prometheus text); both behind the API's auth. */
export const operationsRoutes: FastifyPluginAsync<{ status: () => StatusResponse; metrics: ServerMetrics }> = async (app, { status, metrics }) => {
  app.get(routes.status(), async () => status());
  app.get(routes.metrics(), async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()));
};
