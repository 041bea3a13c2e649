/**
 * The NETunnel protocol as netunnel speaks it: REST bodies, channel messages, data
 * websocket frames and the negotiated extensions. Server and client import these shapes
 * rather than repeating them (see shared/spec/netunnel-wire.md §2).
 */

// ---- Routes ---------------------------------------------------------------------------

/** Paths of the REST API; the server passes `:name` placeholders to get its route patterns. */
type Id = number | `:${string}`;
export const routes = {
  version: () => '/version',
  /** Handled by the auth plugin; the only route that skips the auth check. */
  authenticate: () => '/authenticate',
  channels: () => '/channels',
  channelConnect: (channelId: Id) => `/channels/${channelId}/connect`,
  tunnels: (channelId: Id) => `/channels/${channelId}/tunnels`,
  tunnel: (channelId: Id, tunnelId: Id) => `/channels/${channelId}/tunnels/${tunnelId}`,
  tunnelConnect: (channelId: Id, tunnelId: Id) => `/channels/${channelId}/tunnels/${tunnelId}/connect`,
  httpProxy: () => '/config/http-proxy',
  factoryReset: () => '/config/factory-reset',
  status: () => '/status',
  metrics: () => '/metrics',
  peers: () => '/peers',
  peer: (peerId: Id) => `/peers/${peerId}`,
  staticTunnels: (peerId: Id) => `/peers/${peerId}/static_tunnels`,
  staticTunnel: (peerId: Id, tunnelId: Id) => `/peers/${peerId}/static_tunnels/${tunnelId}`,
} as const;

// ---- Extensions (design.md §4) --------------------------------------------------------

export const FEATURES = ['half-close', 'entrance-port', 'named-reverse', 'websocket-reuse'] as const;
export type Feature = (typeof FEATURES)[number];

// ---- REST bodies (§2.2) ---------------------------------------------------------------

export interface CreateChannelRequest {
  version: string;
  /** Extension: features the client would like; absent from original clients. */
  features?: string[];
}

export interface CreateChannelResponse {
  channel_id: number;
  version: string;
  /** Extension: the subset of the requested features the server agreed to. */
  features?: Feature[];
}

export interface CreateForwardTunnelRequest {
  exit_address: string;
  exit_port: number;
  reverse: false;
}

export interface CreateReverseTunnelRequest {
  entrance_address: string;
  entrance_port: number | null;
  reverse: true;
  /**
   * Extension `named-reverse`: register the entrance under this name in the server's tunnel
   * registry (reachable as `name:entrance_port`) instead of listening on entrance_address.
   */
  entrance_name?: string;
}

export type CreateTunnelRequest = CreateForwardTunnelRequest | CreateReverseTunnelRequest;

export interface CreateTunnelResponse {
  tunnel_id: number;
  /** Extension `entrance-port`: where a reverse tunnel's entrance actually listens. */
  entrance_address?: string;
  entrance_port?: number;
}

export interface DeleteTunnelRequest {
  force?: boolean;
}

export interface SetHttpProxyRequest {
  /** null removes the proxy. */
  proxy_url: string | null;
  username?: string;
  password?: string;
  /** Fetched through the proxy to check it; default: the config's http_proxy_test_url. */
  test_url?: string;
  /** Default true. */
  check_proxy?: boolean;
}

/** Stored credentials are never shown, only whether there are any. */
export const MASKED_SECRET = '******';

/** `{}` when no proxy is set. */
export type HttpProxyResponse =
  | Record<string, never>
  | { proxy_url: string; username: typeof MASKED_SECRET | null; password: typeof MASKED_SECRET | null };

export interface FactoryResetRequest {
  /** Default false: close every client's channel too. */
  disconnect_clients?: boolean;
}

// ---- Peers and static tunnels (§5) ----------------------------------------------------

export interface CreateStaticTunnelRequest {
  tunnel_remote_port: number;
  /** An address or host name on the peer's side, or a name in the peer's tunnel registry. Default 127.0.0.1. */
  tunnel_remote_address?: string;
  /** Where this server listens. Default 127.0.0.1. */
  tunnel_local_address?: string;
  /** Default: the first free port in [20000, 21000). */
  tunnel_local_port?: number;
}

export interface RegisterPeerRequest {
  name: string;
  target_netunnel_url: string;
  /** Options of the auth plugin's client for this peer; null or absent: none. */
  auth_data?: Record<string, unknown> | null;
  static_tunnels?: CreateStaticTunnelRequest[];
}

export type UpdatePeerRequest = Partial<Pick<RegisterPeerRequest, 'name' | 'target_netunnel_url' | 'auth_data'>>;

export type StaticTunnelState = 'connecting' | 'online' | 'offline';

export interface StaticTunnelResponse {
  id: number;
  tunnel_local_address: string;
  tunnel_local_port: number;
  tunnel_remote_address: string;
  tunnel_remote_port: number;
  /** netunnel: the live state; `last_error` says why it is (or last was) offline. */
  state: StaticTunnelState;
  last_error?: string;
}

export interface PeerResponse {
  id: number;
  name: string;
  target_netunnel_url: string;
  /** Stored encrypted; shown with every value masked. */
  auth_data: Record<string, unknown>;
  static_tunnels: StaticTunnelResponse[];
}

// ---- Operations (design.md §7) ---------------------------------------------------------

export type TunnelKind = 'forward' | 'reverse' | 'named-reverse';

export interface TunnelStatus {
  id: number;
  kind: TunnelKind;
  /** forward: where it exits; reverse: where the server listens; named-reverse: `name:port`. */
  target: string;
}

export interface ChannelStatus {
  id: number;
  /** Where the client connects from. */
  client: string;
  features: Feature[];
  tunnels: TunnelStatus[];
}

export interface TrafficStatus {
  live: number;
  total: number;
  upstream_bytes: number;
  downstream_bytes: number;
}

/** `GET /status`: what the server is doing now. */
export interface StatusResponse {
  version: string;
  uptime_seconds: number;
  channels: ChannelStatus[];
  /** Tunnelled connections by where the server splices them: forward, reverse, ssh, static. */
  connections: Record<string, TrafficStatus>;
  registry: { name: string; aliases: string[]; port: number; owner: string; since: string }[];
  ssh_sessions: number;
  peers: PeerResponse[];
}

export interface ErrorBody {
  error: string;
  /** netunnel's error code (common/errors.ts); original servers send none. */
  code?: string;
}

// ---- JSON schemas of the request bodies, for the server's validation ----------------

const port = { type: 'integer', minimum: 1, maximum: 65535 } as const;
const peerName = { type: 'string', minLength: 1, maxLength: 255 } as const;
const staticTunnelBody = {
  type: 'object',
  required: ['tunnel_remote_port'],
  additionalProperties: false,
  properties: {
    tunnel_remote_port: port,
    tunnel_remote_address: { type: 'string', minLength: 1, maxLength: 255 },
    tunnel_local_address: { type: 'string', minLength: 1, maxLength: 255 },
    tunnel_local_port: port,
  },
} as const;

export const schemas = {
  createChannel: {
    type: 'object',
    required: ['version'],
    properties: {
      version: { type: 'string', maxLength: 64 },
      features: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 } },
    },
  },
  createTunnel: {
    type: 'object',
    required: ['reverse'],
    properties: { reverse: { type: 'boolean' } },
    if: { required: ['reverse'], properties: { reverse: { const: true } } },
    then: {
      required: ['entrance_address'],
      additionalProperties: false,
      properties: {
        reverse: { type: 'boolean' },
        entrance_address: { type: 'string', minLength: 1, maxLength: 255 },
        entrance_port: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 0, maximum: 65535 }] },
        // The characters allowed are the registry's to check, with a sentence that says which.
        entrance_name: { type: 'string', minLength: 1, maxLength: 255 },
      },
    },
    else: {
      required: ['exit_address', 'exit_port'],
      additionalProperties: false,
      properties: {
        reverse: { type: 'boolean' },
        exit_address: { type: 'string', minLength: 1, maxLength: 255 },
        exit_port: port,
      },
    },
  },
  deleteTunnel: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { force: { type: 'boolean' } },
  },
  setHttpProxy: {
    type: 'object',
    required: ['proxy_url'],
    additionalProperties: false,
    properties: {
      proxy_url: { type: ['string', 'null'], minLength: 1, maxLength: 2048 },
      username: { type: 'string', maxLength: 1024 },
      password: { type: 'string', maxLength: 1024 },
      test_url: { type: 'string', minLength: 1, maxLength: 2048 },
      check_proxy: { type: 'boolean' },
    },
  },
  createStaticTunnel: staticTunnelBody,
  registerPeer: {
    type: 'object',
    required: ['name', 'target_netunnel_url'],
    additionalProperties: false,
    properties: {
      name: peerName,
      target_netunnel_url: { type: 'string', minLength: 1, maxLength: 2048 },
      auth_data: { type: ['object', 'null'] },
      static_tunnels: { type: 'array', maxItems: 1000, items: staticTunnelBody },
    },
  },
  updatePeer: {
    type: 'object',
    additionalProperties: false,
    properties: {
      name: peerName,
      target_netunnel_url: { type: 'string', minLength: 1, maxLength: 2048 },
      auth_data: { type: ['object', 'null'] },
    },
  },
  factoryReset: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: { disconnect_clients: { type: 'boolean' } },
  },
} as const;

// ---- The channel (§2.3) ---------------------------------------------------------------

export const MessageType = {
  NEW_CONNECTION: 'TUNNEL_SERVER_TO_CLIENT_NEW_CONNECTION',
  DELETE_TUNNEL: 'DELETE_TUNNEL',
} as const;
export type MessageTypeName = (typeof MessageType)[keyof typeof MessageType];

export interface NewConnectionData {
  tunnel_id: number;
}

export interface DeleteTunnelData {
  tunnel_id: number;
  force: boolean;
}

export interface MessageDataByType {
  [MessageType.NEW_CONNECTION]: NewConnectionData;
  [MessageType.DELETE_TUNNEL]: DeleteTunnelData;
}

/** A request on the channel, as a BSON document; field order is part of the wire format. */
export interface ChannelMessageDoc {
  _type: 'message';
  _identifier: number;
  message_type: { __Messages__: string };
  data: Record<string, unknown>;
}

export interface ChannelResponseDoc {
  _type: 'response';
  _identifier: number;
  data: Record<string, unknown>;
  error?: string;
}

export type ChannelDoc = ChannelMessageDoc | ChannelResponseDoc;

/** Silence after which the client pings (the original's aiohttp heartbeat). */
export const HEARTBEAT_INTERVAL_MS = 20_000;
/** How long a ping may go unanswered before the peer is declared dead. */
export const HEARTBEAT_TIMEOUT_MS = 10_000;

// ---- Data websockets (§2.4) -----------------------------------------------------------

/** The entrance's first TEXT frame; the exit discards the first message before connecting. */
export const DATA_FIRST_FRAME = 'pasten';
/** Extension `half-close`: a TEXT frame meaning "no more bytes this way". */
export const EOF_FRAME = 'eof';
/**
 * Extension `half-close`: the close code of a data websocket whose exit could not be
 * connected, the reason saying why. Entrances end the connection cleanly, as the original;
 * stdio mode reports it (a ProxyCommand must fail loudly).
 */
export const EXIT_REFUSED_CLOSE_CODE = 4502;
/** Largest binary frame we send (the original sends at most 65535; peers accept 4 MiB). */
export const MAX_FRAME_BYTES = 64 * 1024;
/** Largest frame we accept, as the original's aiohttp default. */
export const MAX_RECEIVE_BYTES = 4 * 1024 * 1024;

/** Checks a received message's `data`; returns the typed data or a sentence saying what is wrong. */
export function parseMessageData<T extends MessageTypeName>(
  type: T,
  data: Record<string, unknown>,
): MessageDataByType[T] | string {
  if (!Number.isInteger(data.tunnel_id)) return `${type} needs an integer tunnel_id`;
  if (type === MessageType.DELETE_TUNNEL) {
    if (data.force !== undefined && typeof data.force !== 'boolean') return `${type} needs a boolean force`;
    return { tunnel_id: data.tunnel_id as number, force: data.force === true } as MessageDataByType[T];
  }
  return { tunnel_id: data.tunnel_id as number } as MessageDataByType[T];
}

export function isMessageType(name: string): name is MessageTypeName {
  return Object.values<string>(MessageType).includes(name);
}
