import type { AccessList } from './access-list.js';

/** The configuration keys that govern channels and tunnels, read live from the config. */
export interface ServerPolicy {
  allowed_tunnel_destinations: AccessList | null;
  allowed_tunnel_entrances: AccessList;
  max_channels: number;
  max_tunnels_per_channel: number;
  /** Seconds a created channel may wait for its websocket before it is forgotten. */
  channel_connect_timeout: number;
}
