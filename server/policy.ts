import type { ServerConfig } from './config/defaults.js';

/** The configuration keys that govern channels and tunnels, read live from the config. */
export type ServerPolicy = Pick<
  ServerConfig,
  | 'allowed_tunnel_destinations'
  | 'allowed_tunnel_entrances'
  | 'max_channels'
  | 'max_tunnels_per_channel'
  | 'channel_connect_timeout'
>;
