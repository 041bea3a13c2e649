import { NetunnelError } from '../common/errors.js';
import { FEATURES } from '../common/protocol.js';
import type { ChannelStatus, Feature, TunnelKind } from '../common/protocol.js';
import { ServerChannel } from './server-channel.js';
import type { ServerChannelDeps } from './server-channel.js';
import type { Originator } from './tunnel-registry.js';

/** Every live channel of the server, with the limit on their number and the expiry of idle ones. */
export class Channels {
  readonly #byId = new Map<number, ServerChannel>();
  #nextId = 1;

  constructor(private readonly deps: ServerChannelDeps) {}

  get size(): number {
    return this.#byId.size;
  }

  tunnelCounts(): Record<TunnelKind, number> {
    const counts: Record<TunnelKind, number> = { forward: 0, reverse: 0, 'named-reverse': 0 };
    for (const channel of this.#byId.values()) for (const tunnel of channel.describe().tunnels) counts[tunnel.kind]++;
    return counts;
  }

  describe(): ChannelStatus[] {
    return [...this.#byId.values()].map((channel) => channel.describe());
  }

  /** `client` is where the client connects from: the originator its tunnels show to listeners. */
  create(client: Originator, requestedFeatures: readonly string[] = []): ServerChannel {
    const { max_channels: max, channel_connect_timeout: timeout } = this.deps.policy();
    if (this.#byId.size >= max) {
      throw new NetunnelError('LIMIT_REACHED', `the server already has ${max} channels, the most allowed (max_channels)`);
    }
    const features = new Set<Feature>(FEATURES.filter((f) => requestedFeatures.includes(f)));
    const channel = new ServerChannel(this.#nextId++, features, client, this.deps);
    this.#byId.set(channel.id, channel);
    const expiry = setTimeout(() => {
      if (channel.connected) return;
      channel.logger.info('channel was never connected; forgetting it');
      channel.close();
    }, timeout * 1000);
    expiry.unref();
    channel.onClose(() => {
      clearTimeout(expiry);
      this.#byId.delete(channel.id);
    });
    return channel;
  }

  get(id: number): ServerChannel {
    const channel = this.#byId.get(id);
    if (!channel) throw new NetunnelError('NOT_FOUND', `channel ${id} does not exist (it may have expired or disconnected)`);
    return channel;
  }

  /** Tells every client its tunnels are gone and closes their channels. */
  async disconnectAll(): Promise<void> {
    await Promise.all([...this.#byId.values()].map((channel) => channel.disconnect()));
  }

  /** Closes every channel at once, without waiting on its client. */
  closeAll(): void {
    for (const channel of [...this.#byId.values()]) channel.close();
  }
}
