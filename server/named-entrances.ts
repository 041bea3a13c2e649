import { NetunnelError } from '../common/errors.js';
import { checkAccess } from './access-list.js';
import type { AccessList } from './access-list.js';
import type { EndpointProvider, OwnerInfo, RegistrationHandle, TunnelRegistry } from './tunnel-registry.js';

/**
 * Where netunnel clients' named reverse tunnels (extension `named-reverse`) register. A name
 * reaches SSH initiators and forward tunnels alike, and newest wins, so claiming one could
 * capture an SSH listener's traffic: only names (and ports) in `allowed_tunnel_names` may be
 * taken; there are none until the operator lists some.
 */
export class NamedEntrances {
  constructor(
    private readonly registry: TunnelRegistry,
    private readonly allowed: () => AccessList,
  ) {}

  register(name: string, port: number, provider: EndpointProvider, owner: OwnerInfo): RegistrationHandle {
    const verdict = checkAccess(this.allowed(), name, port);
    if (verdict !== 'allowed') {
      const what = verdict === 'address-denied' ? `Name ${name}` : `Port ${name}:${port}`;
      throw new NetunnelError('ENTRANCE_NOT_ALLOWED', `${what} is not allowed for a named reverse tunnel (see allowed_tunnel_names)`);
    }
    return this.registry.register([name], port, provider, owner);
  }
}
