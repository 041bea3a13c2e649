import { pino } from 'pino';
import { NetunnelClient } from '../../client/client.js';
import type { NetunnelClientOptions } from '../../client/client.js';
import { defaultConfig } from '../../server/config/defaults.js';
import type { ServerPolicy } from '../../server/policy.js';
import { NetunnelServer } from '../../server/server.js';
import type { NetunnelServerOptions } from '../../server/server.js';

export const silentLogger = () => pino({ level: 'silent' });

/** A netunnel server in this process on an ephemeral loopback port, with default policy plus `policy`. */
export function startServer(policy: Partial<ServerPolicy> = {}, options: Partial<NetunnelServerOptions> = {}): Promise<NetunnelServer> {
  const settings: ServerPolicy = { ...defaultConfig(), ...policy };
  return NetunnelServer.start({ host: '127.0.0.1', port: 0, logger: silentLogger(), policy: () => settings, ...options });
}

/** A connected client of `server`. */
export async function connectClient(server: NetunnelServer, options: Partial<NetunnelClientOptions> = {}): Promise<NetunnelClient> {
  const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger(), ...options });
  await client.connect();
  return client;
}

/** fetch against the server, returning status, content type and parsed body. */
export async function call(
  server: NetunnelServer,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; type: string; body: unknown; text: string }> {
  const response = await fetch(server.url + path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = text;
  }
  return { status: response.status, type: response.headers.get('content-type') ?? '', body: parsed, text };
}
