import type { FastifyPluginAsync } from 'fastify';
import { routes, schemas } from '../../common/protocol.js';
import type { CreateStaticTunnelRequest, RegisterPeerRequest, UpdatePeerRequest } from '../../common/protocol.js';
import type { Peers } from '../peers/peers.js';
import { noContent } from './no-content.js';
import { peerParams, staticTunnelParams } from './params.js';
import type { PeerParams, StaticTunnelParams } from './params.js';

const nameQuery = { type: 'object', additionalProperties: false, properties: { name: { type: 'string' } } } as const;

/** `/peers` and `/peers/:id/static_tunnels` (netunnel-wire.md §2.2, §5). */
export const peerRoutes: FastifyPluginAsync<{ peers: Peers }> = async (app, { peers }) => {
  app.get<{ Querystring: { name?: string } }>(routes.peers(), { schema: { querystring: nameQuery } }, async (request) =>
    peers.list(request.query.name),
  );

  app.post<{ Body: RegisterPeerRequest }>(routes.peers(), { schema: { body: schemas.registerPeer } }, async (request) =>
    peers.register(request.body),
  );

  app.get<{ Params: PeerParams }>(routes.peer(':peer_id'), { schema: { params: peerParams } }, async (request) =>
    peers.get(request.params.peer_id),
  );

  app.post<{ Params: PeerParams; Body: UpdatePeerRequest }>(
    routes.peer(':peer_id'),
    { schema: { params: peerParams, body: schemas.updatePeer } },
    async (request) => peers.update(request.params.peer_id, request.body),
  );

  app.delete<{ Params: PeerParams }>(routes.peer(':peer_id'), { schema: { params: peerParams } }, async (request, reply) => {
    await peers.remove(request.params.peer_id);
    return noContent(reply);
  });

  app.get<{ Params: PeerParams }>(routes.staticTunnels(':peer_id'), { schema: { params: peerParams } }, async (request) =>
    peers.listStaticTunnels(request.params.peer_id),
  );

  app.post<{ Params: PeerParams; Body: CreateStaticTunnelRequest }>(
    routes.staticTunnels(':peer_id'),
    { schema: { params: peerParams, body: schemas.createStaticTunnel } },
    async (request) => peers.createStaticTunnel(request.params.peer_id, request.body),
  );

  app.get<{ Params: StaticTunnelParams }>(
    routes.staticTunnel(':peer_id', ':tunnel_id'),
    { schema: { params: staticTunnelParams } },
    async (request) => peers.getStaticTunnel(request.params.peer_id, request.params.tunnel_id),
  );

  app.delete<{ Params: StaticTunnelParams }>(
    routes.staticTunnel(':peer_id', ':tunnel_id'),
    { schema: { params: staticTunnelParams } },
    async (request, reply) => {
      await peers.deleteStaticTunnel(request.params.peer_id, request.params.tunnel_id);
      return noContent(reply);
    },
  );
};
