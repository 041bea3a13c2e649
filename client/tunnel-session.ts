import { once } from 'node:events';
import { Backoff, sleep } from '../common/backoff.js';
import { NetunnelError, RemoteError, errorMessage } from '../common/errors.js';
import { NetunnelClient } from './client.js';
import type { ForwardTunnelSpec, NetunnelClientOptions, ReverseTunnelSpec } from './client.js';
import type { ClientTunnel } from './client-tunnel.js';

export type TunnelRequest = { reverse: false; spec: ForwardTunnelSpec } | { reverse: true; spec: ReverseTunnelSpec };

export interface TunnelSessionOptions {
  client: NetunnelClientOptions;
  tunnel: TunnelRequest;
  /** Reconnect and re-create the tunnel when it is lost (the original exits instead). */
  reconnect: boolean;
  /** One line per state change, for the user. */
  say: (line: string) => void;
  signal: AbortSignal;
  backoff?: { initialMs: number; maxMs: number };
}

/**
 * Keeps one tunnel up for the command-line client: connects, opens the tunnel, and when the
 * channel or the tunnel is lost, reconnects with capped backoff. Resolves when stopped (or,
 * without `reconnect`, when the tunnel ends); rejects on what retrying cannot fix.
 */
export async function runTunnelSession(options: TunnelSessionOptions): Promise<void> {
  const { signal, say } = options;
  const backoff = new Backoff(options.backoff);
  let request = options.tunnel;
  let everUp = false;
  while (!signal.aborted) {
    let reason: string;
    try {
      const tunnel = await holdTunnel(options, request, (up) => {
        say(everUp ? `Reconnected: ${describe(up)}` : `Opening tunnel to the ${request.reverse ? 'client' : 'server'}...`);
        if (!everUp) {
          say(`Tunnel entrance socket: ${up.entrance.address}:${up.entrance.port}`);
          say(`Tunnel exit socket: ${up.exit.address}:${up.exit.port}`);
        }
        everUp = true;
        backoff.reset();
        // Come back on the same local port, so whoever uses the entrance need not be told.
        if (!request.reverse) request = { reverse: false, spec: { ...request.spec, localPort: up.entrance.port } };
      });
      reason = tunnel;
    } catch (err) {
      if (!options.reconnect || !isRetryable(err, everUp)) throw err;
      reason = errorMessage(err);
    }
    if (signal.aborted || !options.reconnect) return;
    const delay = backoff.next();
    say(`Tunnel down (${reason}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
    await sleep(delay, signal);
  }
}

/** One life of the tunnel; resolves with why it ended. */
async function holdTunnel(
  options: TunnelSessionOptions,
  request: TunnelRequest,
  onUp: (tunnel: ClientTunnel) => void,
): Promise<string> {
  const client = new NetunnelClient(options.client);
  try {
    await client.connect();
    const tunnel = request.reverse ? await client.openReverseTunnel(request.spec) : await client.openForwardTunnel(request.spec);
    onUp(tunnel);
    const lost = once(client, 'close').then(() => 'connection to the server lost');
    const stopped = tunnel.done().then(() => 'the server closed the tunnel');
    const aborted = once(options.signal, 'abort').then(() => 'stopped');
    const reason = await Promise.race([lost, stopped, aborted]);
    // A server shutting down gracefully lets open connections finish: so does a client about
    // to exit (a reconnecting one keeps them meanwhile), unless told to stop.
    if (!options.reconnect && !options.signal.aborted && tunnel.connectionCount > 0) {
      options.say(`Tunnel closed (${reason}); waiting for ${tunnel.connectionCount} open connection(s) to finish`);
      await Promise.race([tunnel.drained(), aborted]);
    }
    return reason;
  } finally {
    await client.close();
  }
}

function describe(tunnel: ClientTunnel): string {
  return `tunnel entrance socket ${tunnel.entrance.address}:${tunnel.entrance.port}, exit ${tunnel.exit.address}:${tunnel.exit.port}`;
}

/** Network trouble and server restarts pass; refusals (4xx) and local misconfiguration do not. */
function isRetryable(err: unknown, everUp: boolean): boolean {
  if (err instanceof RemoteError) return err.statusCode >= 500 || err.statusCode === 429 || err.statusCode === 404;
  if (err instanceof NetunnelError) {
    if (err.code === 'BIND_FAILED') return everUp;
    // PROXY_AUTH_FAILED and TLS_CERTIFICATE are not here: retrying cannot fix them.
    return ['SERVER_UNREACHABLE', 'PROXY_UNREACHABLE', 'CHANNEL_CLOSED', 'TIMEOUT', 'PROTOCOL'].includes(err.code);
  }
  return false;
}
