import type { Duplex } from 'node:stream';
import { NetunnelError } from '../common/errors.js';
import { connectTcp } from '../common/tcp.js';
import type { ConnectTcpOptions } from '../common/tcp.js';
import { checkAccess } from './access-list.js';
import type { AccessList } from './access-list.js';
import type { EndpointProvider, Originator, TunnelRegistry } from './tunnel-registry.js';

/**
 * Where an initiator's `host:port` leads, whatever door it came through (design.md §3): a
 * name in the tunnel registry first; otherwise a real address, allowed only by
 * `allowed_tunnel_destinations`. An address that list names is always the real one: the
 * operator opened it, and a listener registering the same name must not capture its traffic.
 */
export class Destinations {
  constructor(
    private readonly registry: TunnelRegistry,
    private readonly allowed: () => AccessList,
  ) {}

  /** Throws DESTINATION_NOT_ALLOWED unless `host:port` is a registered name or an allowed address. */
  check(host: string, port: number): void {
    if (this.#virtual(host, port)) return;
    const verdict = checkAccess(this.allowed(), host, port);
    // A listener's name without that port: say so (resolve's sentence names the ports it has).
    if (verdict !== 'allowed' && !this.#isRealAddress(host) && this.registry.has(host)) this.registry.resolve(host, port);
    if (verdict === 'address-denied') {
      throw new NetunnelError('DESTINATION_NOT_ALLOWED', `Address ${host} is not allowed as a tunnel destination`);
    }
    if (verdict === 'port-denied') {
      throw new NetunnelError('DESTINATION_NOT_ALLOWED', `Port ${host}:${port} is not allowed as a tunnel destination`);
    }
  }

  /**
   * Opens a stream to `host:port`, checked again now: a name may have come or gone meanwhile.
   * `tcp` applies when it is a real address (`recycledReads`: for a caller that only splices it).
   */
  open(host: string, port: number, originator: Originator, tcp: ConnectTcpOptions = {}): Promise<Duplex> {
    const provider = this.#virtual(host, port);
    if (provider) return provider.open(originator);
    this.check(host, port);
    return connectTcp(host, port, tcp);
  }

  #virtual(host: string, port: number): EndpointProvider | undefined {
    return this.#isRealAddress(host) ? undefined : this.registry.find(host, port);
  }

  /** Named by the allow-list, whatever its case: names compare case-blind, as host names do. */
  #isRealAddress(host: string): boolean {
    const lower = host.toLowerCase();
    return Object.keys(this.allowed()).some((address) => address.toLowerCase() === lower);
  }
}
