import type { Duplex } from 'node:stream';
import { NetunnelError } from '../common/errors.js';

/** Who asked for a circuit: passed on to the provider (e.g. as the originator of a forwarded-tcpip channel). */
export interface Originator {
  host: string;
  port: number;
}

/** Something that can open a byte stream to a virtual endpoint's port. */
export interface EndpointProvider {
  open(originator: Originator): Promise<Duplex>;
}

/** Who registered an endpoint, for `list` and logs. */
export interface OwnerInfo {
  /** e.g. 'ssh' or 'websocket'. */
  kind: string;
  /** The peer's address. */
  address?: string;
  /** e.g. the SHA256 fingerprint of an SSH key. */
  key?: string;
}

export interface RegistrationHandle {
  unregister(): void;
}

export interface ListedEndpoint {
  /** The name as an initiator reaches it now (`name` or `name~N`). */
  name: string;
  aliases: string[];
  port: number;
  owner: OwnerInfo;
  since: Date;
}

interface Registration {
  names: string[];
  port: number;
  provider: EndpointProvider;
  owner: OwnerInfo;
  since: Date;
  active: boolean;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const INDEXED = /^(.*)~(\d+)$/;

/**
 * Names compare as host names do, whatever their case: OpenSSH lowercases the host it is
 * given before it asks for `-J`'s jump, so `Office` must be reachable as `office`.
 */
function keyOf(name: string): string {
  return name.toLowerCase();
}

/** Whether two names are the same endpoint name (for policies that name one, as permitopen). */
export function sameName(a: string, b: string): boolean {
  return keyOf(a) === keyOf(b);
}

/**
 * Why `name` may not be registered, or undefined if it may: the characters OpenSSH accepts in
 * host names (no `~`, no leading `-`), and nothing a resolver would read as an address (an
 * IPv4 address in any spelling getaddrinfo takes: `127.0.0.1`, `127.1`, `0x7f.1`, `2130706433`;
 * `localhost`): a listener under one would pass itself off as a machine.
 */
export function nameProblem(name: string): string | undefined {
  if (!NAME_PATTERN.test(name) || name.startsWith('-')) return "use letters, digits, '.', '_' and '-'";
  const lower = name.toLowerCase().replace(/\.$/, '');
  const addressLike = lower === 'localhost' || lower.endsWith('.localhost') || lower.split('.').every((label) => /^(0x[0-9a-f]*|[0-9]+)$/.test(label));
  return addressLike ? 'it reads as an address; pick a name that does not' : undefined;
}

/**
 * The server's virtual endpoints: names (primary + aliases) with ports, each backed by a
 * provider. Newest registration of a name wins; `name~N` reaches the N-th older one.
 * A registration covers one port; an owner's registrations under a name rank together, by
 * when it first came, for as long as it holds any of them: `name~N` picks an owner, not a port,
 * and an owner cancelling one port moves no one.
 */
export class TunnelRegistry {
  /** Per name (keyOf), registrations newest first. */
  private readonly byName = new Map<string, Registration[]>();
  private readonly all = new Set<Registration>();
  /** Per name (keyOf), when each owner holding a registration under it first came: its rank. */
  private readonly arrivals = new Map<string, Map<OwnerInfo, number>>();
  private nextArrival = 0;

  register(names: string[], port: number, provider: EndpointProvider, owner: OwnerInfo): RegistrationHandle {
    if (names.length === 0) throw new NetunnelError('BAD_REQUEST', 'A virtual endpoint needs at least one name');
    for (const name of names) {
      const problem = nameProblem(name);
      if (problem) throw new NetunnelError('BAD_REQUEST', `Invalid endpoint name "${name}": ${problem}`);
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new NetunnelError('BAD_REQUEST', `Invalid virtual port ${port}: use 1-65535`);
    }
    const unique = names.filter((name, i) => names.findIndex((other) => sameName(other, name)) === i);
    const registration: Registration = { names: unique, port, provider, owner, since: new Date(), active: true };
    for (const name of registration.names) {
      const list = this.byName.get(keyOf(name)) ?? [];
      list.unshift(registration);
      this.byName.set(keyOf(name), list);
      const arrivals = this.arrivals.get(keyOf(name)) ?? new Map<OwnerInfo, number>();
      if (!arrivals.has(owner)) arrivals.set(owner, this.nextArrival++);
      this.arrivals.set(keyOf(name), arrivals);
    }
    this.all.add(registration);
    return {
      unregister: () => {
        if (!registration.active) return;
        registration.active = false;
        this.all.delete(registration);
        for (const name of registration.names) {
          const list = this.byName.get(keyOf(name));
          if (!list) continue;
          const rest = list.filter((r) => r !== registration);
          if (rest.length === 0) this.byName.delete(keyOf(name));
          else this.byName.set(keyOf(name), rest);
          // An owner keeps its place while it holds any port under the name, so its others do not move.
          if (!rest.some((r) => r.owner === registration.owner)) this.arrivals.get(keyOf(name))?.delete(registration.owner);
          if (rest.length === 0) this.arrivals.delete(keyOf(name));
        }
      },
    };
  }

  /** The provider for `name[~N]:port`, or undefined, for callers that have somewhere else to look. */
  find(target: string, port: number): EndpointProvider | undefined {
    const found = this.#lookup(target, port);
    return typeof found === 'string' ? undefined : found;
  }

  /** Whether anyone is registered under `name[~N]`, on any port. */
  has(target: string): boolean {
    const match = INDEXED.exec(target);
    return this.owners(match ? match[1]! : target).length > (match ? Number(match[2]) : 0);
  }

  /** Every port registered under any of `names`, by anyone. */
  portsUnder(names: readonly string[]): Set<number> {
    const ports = new Set<number>();
    for (const name of names) for (const registration of this.byName.get(keyOf(name)) ?? []) ports.add(registration.port);
    return ports;
  }

  /** The provider for `name[~N]:port`; throws NOT_FOUND saying why there is none. */
  resolve(target: string, port: number): EndpointProvider {
    const found = this.#lookup(target, port);
    if (typeof found === 'string') throw new NetunnelError('NOT_FOUND', found);
    return found;
  }

  /**
   * Finds the provider for `name[~N]` and `port`. Registrants of a name are ordered newest first
   * (registrations with the same owner and provider group count once); index N selects one of them,
   * and the port must exist on that one (no fallback to an older registrant). Says why in a
   * sentence when there is none, without throwing: every new connection asks.
   */
  #lookup(target: string, port: number): EndpointProvider | string {
    const match = INDEXED.exec(target);
    const name = match ? match[1]! : target;
    const index = match ? Number(match[2]) : 0;
    const owners = this.owners(name);
    if (owners.length === 0) return `Unknown name "${name}": no listener is registered under it`;
    const owner = owners[index];
    if (!owner) return `Unknown name "${target}": "${name}" has ${owners.length} listener(s), so the highest index is ~${owners.length - 1}`;
    const registration = owner.find((r) => r.port === port);
    if (!registration) {
      const ports = owner.map((r) => r.port).sort((a, b) => a - b).join(', ');
      return `Unknown port ${port} on "${target}" (its ports: ${ports})`;
    }
    return registration.provider;
  }

  /** Every registration, one row per name as it resolves now and port. */
  list(): ListedEndpoint[] {
    const rows: ListedEndpoint[] = [];
    for (const registration of this.all) {
      const [primary, ...aliases] = registration.names;
      const owners = this.owners(primary!);
      const index = owners.findIndex((group) => group.includes(registration));
      rows.push({
        name: index > 0 ? `${primary}~${index}` : primary!,
        aliases,
        port: registration.port,
        owner: registration.owner,
        since: registration.since,
      });
    }
    return rows.sort((a, b) => a.name.localeCompare(b.name) || a.port - b.port);
  }

  /**
   * Registrants of `name`, newest first by when each owner came (not by its oldest port left);
   * registrations sharing an owner object form one group, oldest first.
   */
  private owners(name: string): Registration[][] {
    const byOwner = new Map<OwnerInfo, Registration[]>();
    for (const registration of [...(this.byName.get(keyOf(name)) ?? [])].reverse()) {
      const group = byOwner.get(registration.owner) ?? [];
      group.push(registration);
      byOwner.set(registration.owner, group);
    }
    const arrivals = this.arrivals.get(keyOf(name));
    const rank = (owner: OwnerInfo) => arrivals?.get(owner) ?? 0;
    return [...byOwner].sort(([a], [b]) => rank(b) - rank(a)).map(([, group]) => group);
  }
}
