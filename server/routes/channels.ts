// Brings in @fastify/websocket's route typings (the `wsHandler` option).
import type {} from '@fastify/websocket';
import type { FastifyPluginAsync } from 'fastify';
import { routes, schemas } from '../../common/protocol.js';
import type { CreateChannelRequest, CreateChannelResponse } from '../../common/protocol.js';
import type { Channels } from '../channels.js';
import { channelParams } from './params.js';
import { upgradeRequired } from './upgrade-required.js';
import type { ChannelParams } from './params.js';

export const channelRoutes: FastifyPluginAsync<{ channels: Channels; version: string }> = async (app, { channels, version }) => {
  app.post<{ Body: CreateChannelRequest }>(routes.channels(), { schema: { body: schemas.createChannel } }, async (request) => {
    const channel = channels.create({ host: request.ip, port: request.socket.remotePort ?? 0 }, request.body.features);
    const response: CreateChannelResponse = { channel_id: channel.id, version };
    // Only a client that asked for features hears about them: originals get the original body.
    if (request.body.features) response.features = [...channel.features];
    channel.logger.info({ clientVersion: request.body.version, features: response.features }, 'channel created');
    return response;
  });

  app.route<{ Params: ChannelParams }>({
    method: 'GET',
    url: routes.channelConnect(':channel_id'),
    schema: { params: channelParams },
    // Refused before the upgrade, so the client gets a status and a reason, not a dropped socket.
    preHandler: async (request) => channels.get(request.params.channel_id).checkAttachable(),
    handler: upgradeRequired,
    wsHandler: (socket, request) => channels.get(request.params.channel_id).attach(socket),
  });
};
