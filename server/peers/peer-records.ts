/**
 * Peers and static tunnels as the config file holds them: lookups, ids, names, URLs, the
 * static tunnels' addresses and ports, and the auth data's encryption. Pure rules on the
 * stored records; the Peers manager runs them inside config updates.
 */
import { NetunnelError } from '../../common/errors.js';
import { MASKED_SECRET } from '../../common/protocol.js';
import type { CreateStaticTunnelRequest } from '../../common/protocol.js';
import { assertEntranceAllowed } from '../access-list.js';
import type { AccessList } from '../access-list.js';
import type { PeerConfig, ServerConfig } from '../config/defaults.js';
import type { ConfigStore } from '../config/store.js';
import { assertBindable, pickStaticPort } from './local-port.js';
import type { StaticTunnelSettings } from './static-tunnel.js';

/** A peer once the server has filled in what the file may leave out. */
export interface StoredPeer extends PeerConfig {
  id: number;
  /** A Fernet token of the plugin's JSON options, or `{}` when there are none. */
  auth_data: string | Record<string, never>;
  static_tunnels: StaticTunnelSettings[];
}

const DEFAULT_ADDRESS = '127.0.0.1';

export function storedPeers(config: Readonly<ServerConfig>): readonly StoredPeer[] {
  return config.peers as StoredPeer[];
}

export function findPeer(peers: readonly StoredPeer[], id: number): StoredPeer {
  const peer = peers.find((candidate) => candidate.id === id);
  if (!peer) throw new NetunnelError('NOT_FOUND', `Peer \`${id}\` was not found`);
  return peer;
}

export function findStaticTunnel(peer: StoredPeer, id: number): StaticTunnelSettings {
  const tunnel = peer.static_tunnels.find((candidate) => candidate.id === id);
  if (!tunnel) throw new NetunnelError('NOT_FOUND', `No static tunnel by id \`${id}\` on \`${peer.name}\``);
  return tunnel;
}

/** Names are how operators (and `?name=`) find a peer: one peer per name. */
export function assertNameFree(peers: readonly StoredPeer[], name: string, self?: number): void {
  if (peers.some((peer) => peer.name === name && peer.id !== self)) {
    throw new NetunnelError('CONFLICT', `Peer \`${name}\` already exists`);
  }
}

export function nextId(items: readonly { id?: number }[]): number {
  return items.reduce((max, item) => Math.max(max, item.id ?? 0), 0) + 1;
}

/** http(s) URLs with any host the resolver knows: single labels, IPv6 literals. */
export function peerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new NetunnelError('BAD_REQUEST', `target_netunnel_url is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new NetunnelError('BAD_REQUEST', `target_netunnel_url must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.username || url.password) {
    throw new NetunnelError('BAD_REQUEST', 'target_netunnel_url must not hold credentials; put them in auth_data, which is stored encrypted');
  }
  // Routes are appended to it: a query or fragment would end up in front of them.
  if (url.search || url.hash || /[?#]/.test(value)) {
    throw new NetunnelError('BAD_REQUEST', `target_netunnel_url must not have a query or fragment, got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

// ---- Auth data --------------------------------------------------------------------------

export function sealAuthData(config: ConfigStore, data: Record<string, unknown>): StoredPeer['auth_data'] {
  return Object.keys(data).length === 0 ? {} : config.encryptSecret(JSON.stringify(data));
}

/** The plugin options; a plain object is a hand-written (or original) file's, not yet sealed. */
export function openAuthData(config: ConfigStore, stored: unknown): Record<string, unknown> {
  if (typeof stored !== 'string') return (stored ?? {}) as Record<string, unknown>;
  let text: string;
  try {
    text = config.decryptSecret(stored);
  } catch (err) {
    throw new NetunnelError('INVALID_TOKEN', "the peer's auth_data cannot be decrypted with this server's secret key; register the peer again", {
      cause: err,
    });
  }
  return JSON.parse(text) as Record<string, unknown>;
}

/** What the API shows: which options there are, never their values. */
export function maskAuthData(config: ConfigStore, stored: unknown): Record<string, string> {
  let data: Record<string, unknown>;
  try {
    data = openAuthData(config, stored);
  } catch {
    return {};
  }
  return Object.fromEntries(Object.keys(data).map((key) => [key, MASKED_SECRET]));
}

// ---- Static tunnels ---------------------------------------------------------------------

/**
 * A new static tunnel's full settings: defaults filled in, the entrance allowed, and the local
 * port free (given, or the first free one of the static range).
 */
export async function settleStaticTunnel(
  peers: readonly StoredPeer[],
  peer: Pick<StoredPeer, 'static_tunnels'>,
  request: CreateStaticTunnelRequest,
  entrances: AccessList,
): Promise<StaticTunnelSettings> {
  const host = request.tunnel_local_address ?? DEFAULT_ADDRESS;
  assertEntranceAllowed(entrances, host, request.tunnel_local_port ?? null);
  // The peer may not be in `peers` yet (a register's inline tunnels): its own ports count too.
  const taken = portsInUse([...peers, peer]);
  let port = request.tunnel_local_port;
  if (port === undefined) {
    port = await pickStaticPort(host, taken);
  } else {
    if (taken.has(port)) throw new NetunnelError('CONFLICT', `port ${port} is already used by another static tunnel`);
    await assertBindable(host, port);
  }
  return {
    id: nextId(peer.static_tunnels),
    tunnel_local_address: host,
    tunnel_local_port: port,
    tunnel_remote_address: request.tunnel_remote_address ?? DEFAULT_ADDRESS,
    tunnel_remote_port: request.tunnel_remote_port,
  };
}

function portsInUse(peers: readonly Pick<StoredPeer, 'static_tunnels'>[]): Set<number> {
  return new Set(peers.flatMap((peer) => (peer.static_tunnels ?? []).map((tunnel) => tunnel.tunnel_local_port)));
}

/**
 * Fills in what a hand-written (or original) config may leave out: ids, addresses, local ports,
 * and seals plain-text auth data. Returns whether anything changed.
 */
export async function completeStoredPeers(draft: ServerConfig, config: ConfigStore): Promise<boolean> {
  const before = JSON.stringify(draft.peers);
  const peers = draft.peers as StoredPeer[];
  for (const peer of peers) {
    peer.id ??= nextId(peers);
    peer.auth_data = typeof peer.auth_data === 'string' ? peer.auth_data : sealAuthData(config, peer.auth_data ?? {});
    peer.static_tunnels ??= [];
    for (const tunnel of peer.static_tunnels) {
      tunnel.id ??= nextId(peer.static_tunnels);
      tunnel.tunnel_local_address ??= DEFAULT_ADDRESS;
      tunnel.tunnel_remote_address ??= DEFAULT_ADDRESS;
      // A port of 0 or none: pick one now, so it stays the same across restarts.
      if (!tunnel.tunnel_local_port) tunnel.tunnel_local_port = await pickStaticPort(tunnel.tunnel_local_address, portsInUse(peers));
    }
  }
  return JSON.stringify(draft.peers) !== before;
}
