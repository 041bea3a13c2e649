import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { StaticTunnelState, TunnelKind } from '../common/protocol.js';
import { Traffic } from '../common/traffic.js';

/** Where tunnelled connections are spliced on the server, one Traffic each. */
export const TRAFFIC_KINDS = ['forward', 'reverse', 'ssh', 'static'] as const;
export type TrafficKind = (typeof TRAFFIC_KINDS)[number];

const LAG_SAMPLE_MS = 1000;

/** What the server is made of at the moment of a scrape. */
export interface MetricsSources {
  channels(): number;
  tunnels(): Record<TunnelKind, number>;
  registryEntries(): number;
  sshSessions(): number;
  peers(): number;
  staticTunnels(): Record<StaticTunnelState, number>;
}

/**
 * The server's Prometheus metrics (design.md §7): counts read from the live objects at each
 * scrape, traffic from the counters the data path keeps, and the process's own figures.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly traffic: Record<TrafficKind, Traffic> = {
    forward: new Traffic(),
    reverse: new Traffic(),
    ssh: new Traffic(),
    static: new Traffic(),
  };
  readonly #authFailures: Counter<'door'>;
  #sources: MetricsSources | undefined;

  constructor(version: string) {
    // prom-client samples event-loop lag every 10 ms by default: a timer that wakes an idle
    // server 100 times a second (a cost on the small gateways it runs on). One sample a second
    // still gives the lag histogram dozens of samples between two scrapes.
    collectDefaultMetrics({ register: this.registry, prefix: 'netunnel_process_', eventLoopMonitoringPrecision: LAG_SAMPLE_MS });
    new Gauge({ name: 'netunnel_info', help: 'netunnel version', labelNames: ['version'], registers: [this.registry] }).set({ version }, 1);
    this.#authFailures = new Counter({
      name: 'netunnel_auth_failures_total',
      help: 'requests and SSH logins refused for want of valid credentials',
      labelNames: ['door'],
      registers: [this.registry],
    });
    this.#defineGauges();
    this.#defineTraffic();
  }

  /** Set once the server's parts exist; until then the counts read 0. */
  watch(sources: MetricsSources): void {
    this.#sources = sources;
  }

  authFailed(door: 'http' | 'ssh'): void {
    this.#authFailures.inc({ door });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  #defineGauges(): void {
    const sources = () => this.#sources;
    const gauge = (name: string, help: string, read: (s: MetricsSources) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const s = sources();
          this.set(s ? read(s) : 0);
        },
      });
    const labelled = <K extends string>(name: string, help: string, label: string, read: (s: MetricsSources) => Record<K, number>) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [this.registry],
        collect() {
          const s = sources();
          if (!s) return;
          for (const [key, value] of Object.entries<number>(read(s))) this.set({ [label]: key }, value);
        },
      });
    gauge('netunnel_channels', 'client channels now (created, whether or not their websocket has connected yet)', (s) => s.channels());
    labelled('netunnel_tunnels', 'tunnels open now, by kind', 'kind', (s) => s.tunnels());
    gauge('netunnel_registry_endpoints', 'virtual endpoints (name and port) in the tunnel registry', (s) => s.registryEntries());
    gauge('netunnel_ssh_sessions', 'SSH front door connections now', (s) => s.sshSessions());
    gauge('netunnel_peers', 'peers registered', (s) => s.peers());
    labelled('netunnel_static_tunnels', 'static tunnels, by state', 'state', (s) => s.staticTunnels());
  }

  #defineTraffic(): void {
    const traffic = this.traffic;
    const perKind = (collect: (kind: TrafficKind, t: Traffic) => void) => {
      for (const kind of TRAFFIC_KINDS) collect(kind, traffic[kind]);
    };
    new Gauge({
      name: 'netunnel_connections',
      help: 'tunnelled connections open now, by kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        perKind((kind, t) => this.set({ kind }, t.live));
      },
    });
    // Counters that mirror the data path's own totals: reset and re-added at each scrape.
    new Counter({
      name: 'netunnel_connections_total',
      help: 'tunnelled connections opened since start, by kind',
      labelNames: ['kind'],
      registers: [this.registry],
      collect() {
        this.reset();
        perKind((kind, t) => this.inc({ kind }, t.opened));
      },
    });
    new Counter({
      name: 'netunnel_bytes_total',
      help: 'bytes carried by tunnelled connections, by kind and direction (upstream: entrance to exit)',
      labelNames: ['kind', 'direction'],
      registers: [this.registry],
      collect() {
        this.reset();
        perKind((kind, t) => {
          this.inc({ kind, direction: 'upstream' }, t.upstreamBytes);
          this.inc({ kind, direction: 'downstream' }, t.downstreamBytes);
        });
      },
    });
  }
}
