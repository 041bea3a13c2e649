import { once } from 'node:events';
import type { Logger } from 'pino';
import { Backoff, sleep } from '../../common/backoff.js';
import { errorMessage } from '../../common/errors.js';
import type { StaticTunnelResponse, StaticTunnelState } from '../../common/protocol.js';
import { NetunnelClient } from '../../client/client.js';
import type { NetunnelClientOptions } from '../../client/client.js';
import type { ClientTunnel } from '../../client/client-tunnel.js';
import { assertEntranceAllowed } from '../access-list.js';
import type { AccessList } from '../access-list.js';
import type { StaticTunnelConfig } from '../config/defaults.js';

/** A static tunnel as stored in the config, every field filled in. */
export interface StaticTunnelSettings extends StaticTunnelConfig {
  id: number;
  tunnel_local_address: string;
  tunnel_local_port: number;
  tunnel_remote_address: string;
  tunnel_remote_port: number;
}

export interface StaticTunnelTiming {
  backoff: { initialMs: number; maxMs: number };
  /** How often a running tunnel is checked end to end; a failed check restarts it. */
  healthIntervalMs: number;
}

/** About 1 s doubling to 30 s; the health interval comes from the config. */
export const DEFAULT_STATIC_TUNNEL_TIMING: Pick<StaticTunnelTiming, 'backoff'> = {
  backoff: { initialMs: 1000, maxMs: 30_000 },
};

/** The fields the API shows of stored settings (a hand-written file may hold more). */
export function staticTunnelFields(settings: StaticTunnelSettings): Omit<StaticTunnelResponse, 'state' | 'last_error'> {
  const { id, tunnel_local_address, tunnel_local_port, tunnel_remote_address, tunnel_remote_port } = settings;
  return { id, tunnel_local_address, tunnel_local_port, tunnel_remote_address, tunnel_remote_port };
}

/** A health check that takes longer than this counts as failed, however long the interval. */
const MAX_CHECK_MS = 10_000;

/**
 * Keeps one static tunnel up for as long as it exists: this server listens on the local
 * address and the peer connects to the remote end. Whatever goes wrong (peer down, refused,
 * proxy, auth) is a state and a retry with capped backoff, never a reason to exit; while it
 * is down the local port is closed, so users see a refusal rather than a hang.
 */
export class StaticTunnel {
  readonly settings: StaticTunnelSettings;
  readonly #clientOptions: () => Promise<NetunnelClientOptions>;
  readonly #timing: StaticTunnelTiming;
  readonly #entrances: () => AccessList;
  readonly #logger: Logger;
  readonly #stop = new AbortController();
  #state: StaticTunnelState = 'connecting';
  #lastError: string | undefined;
  #running: Promise<void> | undefined;

  constructor(
    settings: StaticTunnelSettings,
    clientOptions: () => Promise<NetunnelClientOptions>,
    options: { timing: StaticTunnelTiming; entrances: () => AccessList; logger: Logger },
  ) {
    this.settings = settings;
    this.#clientOptions = clientOptions;
    this.#timing = options.timing;
    this.#entrances = options.entrances;
    this.#logger = options.logger.child({ staticTunnel: settings.id });
  }

  get state(): StaticTunnelState {
    return this.#state;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** Stops retrying and closes the local port; resolves when everything is released. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  describe(): StaticTunnelResponse {
    return { ...staticTunnelFields(this.settings), state: this.#state, ...(this.#lastError === undefined ? {} : { last_error: this.#lastError }) };
  }

  async #run(): Promise<void> {
    const backoff = new Backoff(this.#timing.backoff);
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      let reason: string;
      try {
        reason = await this.#holdOnce(() => backoff.reset());
      } catch (err) {
        reason = errorMessage(err);
      }
      if (signal.aborted) break;
      const delay = backoff.next();
      // Retries stay 'offline' (one log line), with the latest reason for whoever looks.
      this.#enter('offline', reason, `static tunnel offline (${reason}); retrying with backoff`);
      this.#logger.debug({ reason, retryInMs: delay }, 'static tunnel attempt failed');
      await sleep(delay, signal);
    }
  }

  /** One life of the tunnel; resolves with why it ended. */
  async #holdOnce(onUp: () => void): Promise<string> {
    const client = new NetunnelClient(await this.#clientOptions());
    const life = new AbortController();
    const stopped = whenAborted(this.#stop.signal, life.signal).then(() => 'stopped');
    try {
      // A peer that accepts TCP but never answers must not hold up a stop for the REST
      // timeout: the stop wins the race, and closing the client aborts the attempt.
      const tunnel = await Promise.race([this.#open(client), stopped]);
      if (typeof tunnel === 'string') return tunnel;
      this.#enter('online', undefined, 'static tunnel online');
      onUp();
      return await Promise.race([
        once(client, 'close').then(() => 'the connection to the peer was lost'),
        tunnel.done().then(() => 'the peer closed the tunnel'),
        stopped,
        this.#watch(client, tunnel, life.signal),
      ]);
    } finally {
      life.abort();
      await client.close();
    }
  }

  async #open(client: NetunnelClient): Promise<ClientTunnel> {
    const { settings } = this;
    // Checked at each attempt, not only when the API made it: a hand-written config's tunnel
    // must obey allowed_tunnel_entrances too, and a change to it applies at the next try.
    assertEntranceAllowed(this.#entrances(), settings.tunnel_local_address, settings.tunnel_local_port);
    await client.connect();
    return client.openForwardTunnel({
      remoteAddress: settings.tunnel_remote_address,
      remotePort: settings.tunnel_remote_port,
      localAddress: settings.tunnel_local_address,
      localPort: settings.tunnel_local_port,
    });
  }

  /** Resolves (with the reason) when a periodic end-to-end check fails: up, but broken. */
  async #watch(client: NetunnelClient, tunnel: ClientTunnel, signal: AbortSignal): Promise<string> {
    const interval = this.#timing.healthIntervalMs;
    for (;;) {
      await sleep(interval, signal);
      if (signal.aborted) return 'stopped';
      try {
        await withTimeout(client.checkTunnel(tunnel), Math.min(interval, MAX_CHECK_MS), 'the health check timed out');
      } catch (err) {
        return `health check failed: ${errorMessage(err)}`;
      }
    }
  }

  /** One log line per state change, as an operator wants to read them. */
  #enter(state: StaticTunnelState, lastError: string | undefined, line?: string): void {
    const changed = state !== this.#state;
    this.#state = state;
    this.#lastError = lastError;
    if (changed && line) (state === 'offline' ? this.#logger.warn : this.#logger.info).call(this.#logger, line);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves when `signal` aborts (at once if it has); the listener goes when `until` aborts. */
function whenAborted(signal: AbortSignal, until: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      signal.removeEventListener('abort', done);
      until.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    until.addEventListener('abort', done, { once: true });
  });
}
