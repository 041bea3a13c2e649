/** Route parameter schemas: ids are non-negative integers, anything else is a 400. */
const id = { type: 'integer', minimum: 0, maximum: 2147483647 } as const;

export const channelParams = {
  type: 'object',
  required: ['channel_id'],
  properties: { channel_id: id },
} as const;

export const tunnelParams = {
  type: 'object',
  required: ['channel_id', 'tunnel_id'],
  properties: { channel_id: id, tunnel_id: id },
} as const;

export interface ChannelParams {
  channel_id: number;
}

export interface TunnelParams extends ChannelParams {
  tunnel_id: number;
}

export const peerParams = {
  type: 'object',
  required: ['peer_id'],
  properties: { peer_id: id },
} as const;

export const staticTunnelParams = {
  type: 'object',
  required: ['peer_id', 'tunnel_id'],
  properties: { peer_id: id, tunnel_id: id },
} as const;

export interface PeerParams {
  peer_id: number;
}

export interface StaticTunnelParams extends PeerParams {
  tunnel_id: number;
}
