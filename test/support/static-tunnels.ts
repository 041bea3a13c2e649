import type { StaticTunnelResponse } from '../../common/protocol.js';
import { call } from './in-process.js';
import { waitUntil } from './sockets.js';

export interface WaitOptions {
  timeoutMs?: number;
  /** Credentials, for a server with an auth plugin. */
  headers?: Record<string, string>;
  /** More to say when it times out, e.g. a server process's output. */
  context?: () => string;
}

/**
 * Polls `GET /peers/:peerId/static_tunnels/:id` until the tunnel is in `state`; resolves with
 * that answer, or fails saying what it saw last.
 */
export async function waitForStaticTunnel(
  server: { url: string },
  peerId: number,
  id: number,
  state: StaticTunnelResponse['state'],
  options: WaitOptions = {},
): Promise<StaticTunnelResponse> {
  let last: StaticTunnelResponse | undefined;
  try {
    await waitUntil(
      async () => {
        last = (await call(server, 'GET', `/peers/${peerId}/static_tunnels/${id}`, undefined, options.headers)).body as StaticTunnelResponse;
        return last.state === state;
      },
      options.timeoutMs ?? 30_000,
      `static tunnel ${peerId}/${id} ${state}`,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen ${JSON.stringify(last)}${options.context ? `\n${options.context()}` : ''}`);
  }
  return last!;
}
