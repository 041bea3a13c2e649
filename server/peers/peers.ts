import type { Logger } from 'pino';
import { errorMessage } from '../../common/errors.js';
import type {
  CreateStaticTunnelRequest,
  PeerResponse,
  RegisterPeerRequest,
  StaticTunnelResponse,
  StaticTunnelState,
  UpdatePeerRequest,
} from '../../common/protocol.js';
import type { ConfigStore } from '../config/store.js';
import type { PeerConnector, PeerTarget } from './peer-connection.js';
import {
  assertNameFree,
  completeStoredPeers,
  findPeer,
  findStaticTunnel,
  maskAuthData,
  nextId,
  openAuthData,
  peerUrl,
  sealAuthData,
  settleStaticTunnel,
  storedPeers,
} from './peer-records.js';
import type { StoredPeer } from './peer-records.js';
import { StaticTunnel, staticTunnelFields } from './static-tunnel.js';
import type { StaticTunnelSettings, StaticTunnelTiming } from './static-tunnel.js';

/**
 * The server's peers (other netunnel servers) and the static tunnels it keeps to them
 * (netunnel-wire.md §5). Definitions live in the config, where every change is saved; this
 * class runs them. Nothing here waits on a peer at boot, and nothing a peer does stops the server.
 */
export class Peers {
  readonly #config: ConfigStore;
  readonly #connector: PeerConnector;
  readonly #timing: () => StaticTunnelTiming;
  readonly #logger: Logger;
  /** Running static tunnels by peer id, then by static tunnel id. */
  readonly #running = new Map<number, Map<number, StaticTunnel>>();

  constructor(deps: { config: ConfigStore; connector: PeerConnector; timing: () => StaticTunnelTiming; logger: Logger }) {
    this.#config = deps.config;
    this.#connector = deps.connector;
    this.#timing = deps.timing;
    this.#logger = deps.logger;
  }

  /** Starts every static tunnel of the config, without waiting for any to come up. */
  async start(): Promise<void> {
    try {
      await this.#config.update(async (draft) => void (await completeStoredPeers(draft, this.#config)));
    } catch (err) {
      // The tunnels still run from what is in memory; the operator sees why the file was not updated.
      this.#logger.error({ err: errorMessage(err) }, 'could not complete the peers of the config');
    }
    for (const peer of this.#peers()) this.#startTunnels(peer);
  }

  list(name?: string): PeerResponse[] {
    return this.#peers()
      .filter((peer) => name === undefined || peer.name === name)
      .map((peer) => this.#view(peer));
  }

  stateCounts(): Record<StaticTunnelState, number> {
    const counts: Record<StaticTunnelState, number> = { connecting: 0, online: 0, offline: 0 };
    for (const peer of this.list()) for (const tunnel of peer.static_tunnels) counts[tunnel.state]++;
    return counts;
  }

  get(id: number): PeerResponse {
    return this.#view(findPeer(this.#peers(), id));
  }

  /** Verifies the peer with a real session, then saves it and starts its static tunnels. */
  async register(request: RegisterPeerRequest): Promise<PeerResponse> {
    const target: PeerTarget = { name: request.name, url: peerUrl(request.target_netunnel_url), authData: request.auth_data ?? {} };
    assertNameFree(this.#peers(), target.name);
    const authData = await this.#verify(target);
    let added: StoredPeer | undefined;
    await this.#config.update(async (draft) => {
      const peers = draft.peers as StoredPeer[];
      assertNameFree(peers, target.name);
      const peer: StoredPeer = {
        id: nextId(peers),
        name: target.name,
        target_netunnel_url: target.url,
        auth_data: sealAuthData(this.#config, authData),
        static_tunnels: [],
      };
      for (const tunnel of request.static_tunnels ?? []) {
        peer.static_tunnels.push(await settleStaticTunnel(peers, peer, tunnel, draft.allowed_tunnel_entrances));
      }
      peers.push(peer);
      added = peer;
    });
    this.#logger.info({ peer: target.name, url: target.url }, 'peer registered');
    this.#startTunnels(added!);
    return this.get(added!.id);
  }

  /**
   * Renames, or points the peer elsewhere or at other credentials. A new URL or auth is
   * verified first (a failure changes nothing), then the static tunnels restart with it.
   */
  async update(id: number, request: UpdatePeerRequest): Promise<PeerResponse> {
    const current = findPeer(this.#peers(), id);
    if (request.name !== undefined) assertNameFree(this.#peers(), request.name, id);
    const reconnect = request.target_netunnel_url !== undefined || request.auth_data !== undefined;
    const url = request.target_netunnel_url === undefined ? current.target_netunnel_url : peerUrl(request.target_netunnel_url);
    const authData = reconnect
      ? await this.#verify({
          name: request.name ?? current.name,
          url,
          authData: request.auth_data === undefined ? openAuthData(this.#config, current.auth_data) : (request.auth_data ?? {}),
        })
      : undefined;
    await this.#config.update((draft) => {
      const peer = findPeer(draft.peers as StoredPeer[], id);
      if (request.name !== undefined) {
        assertNameFree(draft.peers as StoredPeer[], request.name, id);
        peer.name = request.name;
      }
      peer.target_netunnel_url = url;
      if (authData) peer.auth_data = sealAuthData(this.#config, authData);
    });
    this.#logger.info({ peer: request.name ?? current.name, reconnect }, 'peer updated');
    if (reconnect) await this.#restartTunnels(id);
    return this.get(id);
  }

  async remove(id: number): Promise<void> {
    const { name } = findPeer(this.#peers(), id);
    await this.#config.update((draft) => {
      draft.peers = (draft.peers as StoredPeer[]).filter((peer) => peer.id !== id);
    });
    await this.#stopTunnels(id);
    this.#logger.info({ peer: name }, 'peer removed');
  }

  listStaticTunnels(peerId: number): StaticTunnelResponse[] {
    const peer = findPeer(this.#peers(), peerId);
    return peer.static_tunnels.map((settings) => this.#describe(peerId, settings));
  }

  getStaticTunnel(peerId: number, id: number): StaticTunnelResponse {
    return this.#describe(peerId, findStaticTunnel(findPeer(this.#peers(), peerId), id));
  }

  /** Saves and starts a static tunnel; answers at once, with its state (`connecting` at first). */
  async createStaticTunnel(peerId: number, request: CreateStaticTunnelRequest): Promise<StaticTunnelResponse> {
    findPeer(this.#peers(), peerId);
    let settings: StaticTunnelSettings | undefined;
    await this.#config.update(async (draft) => {
      const peers = draft.peers as StoredPeer[];
      const peer = findPeer(peers, peerId);
      settings = await settleStaticTunnel(peers, peer, request, draft.allowed_tunnel_entrances);
      peer.static_tunnels.push(settings);
    });
    this.#startTunnel(peerId, settings!);
    return this.getStaticTunnel(peerId, settings!.id);
  }

  async deleteStaticTunnel(peerId: number, id: number): Promise<void> {
    findStaticTunnel(findPeer(this.#peers(), peerId), id);
    await this.#config.update((draft) => {
      const peer = findPeer(draft.peers as StoredPeer[], peerId);
      peer.static_tunnels = peer.static_tunnels.filter((tunnel) => tunnel.id !== id);
    });
    const tunnels = this.#running.get(peerId);
    await tunnels?.get(id)?.stop();
    tunnels?.delete(id);
  }

  /** After a change every tunnel must see (a new proxy, a factory reset): stop all, start what the config holds. */
  async restartAll(): Promise<void> {
    await this.close();
    for (const peer of this.#peers()) this.#startTunnels(peer);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((peerId) => this.#stopTunnels(peerId)));
  }

  #peers(): readonly StoredPeer[] {
    return storedPeers(this.#config.config);
  }

  /** Checks the auth data with the server's plugin and the peer with a session; returns what to store. */
  async #verify(target: PeerTarget): Promise<Record<string, unknown>> {
    const auth = await this.#connector.clientAuth(target);
    await this.#connector.verify(target);
    return auth.dumpObject();
  }

  /** How to reach the peer now: read at every attempt, so a rename or a new proxy applies. */
  #target(peerId: number): PeerTarget {
    const peer = findPeer(this.#peers(), peerId);
    return { name: peer.name, url: peer.target_netunnel_url, authData: openAuthData(this.#config, peer.auth_data) };
  }

  #startTunnels(peer: StoredPeer): void {
    for (const settings of peer.static_tunnels) this.#startTunnel(peer.id, settings);
  }

  #startTunnel(peerId: number, settings: StaticTunnelSettings): void {
    const logger = this.#logger.child({ peer: findPeer(this.#peers(), peerId).name });
    const entrances = () => this.#config.config.allowed_tunnel_entrances;
    const tunnel = new StaticTunnel(settings, () => this.#connector.clientOptions(this.#target(peerId)), { timing: this.#timing(), entrances, logger });
    let tunnels = this.#running.get(peerId);
    if (!tunnels) this.#running.set(peerId, (tunnels = new Map()));
    tunnels.set(settings.id, tunnel);
    tunnel.start();
  }

  async #stopTunnels(peerId: number): Promise<void> {
    const tunnels = this.#running.get(peerId);
    this.#running.delete(peerId);
    await Promise.all([...(tunnels?.values() ?? [])].map((tunnel) => tunnel.stop()));
  }

  async #restartTunnels(peerId: number): Promise<void> {
    await this.#stopTunnels(peerId);
    this.#startTunnels(findPeer(this.#peers(), peerId));
  }

  #view(peer: StoredPeer): PeerResponse {
    return {
      id: peer.id,
      name: peer.name,
      target_netunnel_url: peer.target_netunnel_url,
      auth_data: maskAuthData(this.#config, peer.auth_data),
      static_tunnels: peer.static_tunnels.map((settings) => this.#describe(peer.id, settings)),
    };
  }

  #describe(peerId: number, settings: StaticTunnelSettings): StaticTunnelResponse {
    return this.#running.get(peerId)?.get(settings.id)?.describe() ?? { ...staticTunnelFields(settings), state: 'offline', last_error: 'not running' };
  }
}
