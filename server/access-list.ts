/**
 * An allow-list of `{"<address>": "<ports>"}` with the original's semantics
 * (netunnel-wire.md §3.3): the address must be a key, compared as an exact string; the
 * ports string is a comma-separated list of decimal ports, or `*` for any.
 */
import { NetunnelError } from '../common/errors.js';

export type AccessList = Record<string, string>;

export type AccessVerdict = 'allowed' | 'address-denied' | 'port-denied';

/** `port` null means "any port the system picks", which only `*` allows. */
export function checkAccess(list: AccessList, address: string, port: number | null): AccessVerdict {
  if (!Object.hasOwn(list, address)) return 'address-denied';
  const parts = String(list[address]).split(',').map((part) => part.trim());
  if (parts.includes('*')) return 'allowed';
  return port !== null && parts.includes(String(port)) ? 'allowed' : 'port-denied';
}

/** Throws ENTRANCE_NOT_ALLOWED unless `host:port` may listen (reverse tunnels, static tunnels). */
export function assertEntranceAllowed(list: AccessList, host: string, port: number | null): void {
  const verdict = checkAccess(list, host, port);
  if (verdict === 'allowed') return;
  const what = verdict === 'address-denied' ? `Address ${host}` : `Port ${host}:${port ?? 'any'}`;
  throw new NetunnelError('ENTRANCE_NOT_ALLOWED', `${what} is not allowed as a tunnel entrance (see allowed_tunnel_entrances)`);
}
