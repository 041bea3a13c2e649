import { NetunnelError } from '../../common/errors.js';
import { listenTcp } from '../../common/tcp.js';

/** Where static tunnels listen when no port is given, as the original: [20000, 21000). */
export const STATIC_PORTS = { first: 20000, end: 21000 } as const;

/** Resolves if `host:port` can be bound right now; throws BIND_FAILED saying why not. */
export async function assertBindable(host: string, port: number): Promise<void> {
  const probe = await listenTcp(host, port, (socket) => socket.destroy());
  await new Promise((resolve) => probe.close(resolve));
}

/** The first port of the static range that no other static tunnel holds and that binds now. */
export async function pickStaticPort(host: string, taken: ReadonlySet<number>): Promise<number> {
  for (let port = STATIC_PORTS.first; port < STATIC_PORTS.end; port++) {
    if (taken.has(port)) continue;
    try {
      await assertBindable(host, port);
      return port;
    } catch (err) {
      // An address we cannot listen on at all will not get better on the next port.
      if ((err as { cause?: NodeJS.ErrnoException }).cause?.code !== 'EADDRINUSE') throw err;
    }
  }
  throw new NetunnelError('BIND_FAILED', `no free port left for a static tunnel on ${host} in ${STATIC_PORTS.first}-${STATIC_PORTS.end - 1}`);
}
