// Brings in @fastify/websocket's route typings (the `wsHandler` option).
import type {} from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { routes, schemas } from '../../common/protocol.js';
import { noContent } from './no-content.js';
import { upgradeRequired } from './upgrade-required.js';
import type { CreateTunnelRequest, DeleteTunnelRequest } from '../../common/protocol.js';
import type { Channels } from '../channels.js';
import type { Heartbeat } from '../../common/heartbeat.js';
import { channelParams, tunnelParams } from './params.js';
import type { ChannelParams, TunnelParams } from './params.js';

export const tunnelRoutes: FastifyPluginAsync<{ channels: Channels; heartbeat: Heartbeat }> = async (app, { channels, heartbeat }) => {
  app.post<{ Params: ChannelParams; Body: CreateTunnelRequest }>(
    routes.tunnels(':channel_id'),
    { schema: { params: channelParams, body: schemas.createTunnel } },
    async (request) => channels.get(request.params.channel_id).createTunnel(request.body),
  );

  app.delete<{ Params: TunnelParams; Body: DeleteTunnelRequest | undefined }>(
    routes.tunnel(':channel_id', ':tunnel_id'),
    { schema: { params: tunnelParams, body: schemas.deleteTunnel } },
    async (request, reply) => {
      const { channel_id, tunnel_id } = request.params;
      channels.get(channel_id).deleteTunnel(tunnel_id, request.body?.force ?? false);
      return noContent(reply);
    },
  );

  app.route<{ Params: TunnelParams }>({
    method: 'GET',
    url: routes.tunnelConnect(':channel_id', ':tunnel_id'),
    schema: { params: tunnelParams },
    preHandler: async (request) => void tunnelOf(request.params),
    handler: upgradeRequired,
    wsHandler: (socket, request) => {
      heartbeat.watch(socket);
      tunnelOf(request.params).accept(socket);
    },
  });

  function tunnelOf({ channel_id, tunnel_id }: TunnelParams) {
    return channels.get(channel_id).tunnel(tunnel_id);
  }
};
