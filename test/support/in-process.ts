import { pino } from 'pino';
import { NetunnelClient } from '../../client/client.js';
import type { NetunnelClientOptions } from '../../client/client.js';
import type { ServerConfig } from '../../server/config/defaults.js';
import { ConfigStore } from '../../server/config/store.js';
import { NetunnelServer } from '../../server/server.js';
import type { NetunnelServerOptions } from '../../server/server.js';

export const silentLogger = () => pino({ level: 'silent' });

/** A stateless config store, unaffected by this machine's NETUNNEL_* variables, with `changes` applied. */
export async function statelessConfig(changes: Partial<ServerConfig> = {}): Promise<ConfigStore> {
  const store = await ConfigStore.open({ env: {}, logger: silentLogger() });
  await store.update((draft) => void Object.assign(draft, changes));
  return store;
}

/** A netunnel server in this process on an ephemeral loopback port, with the default config plus `changes`. */
export async function startServer(changes: Partial<ServerConfig> = {}, options: Partial<NetunnelServerOptions> = {}): Promise<NetunnelServer> {
  const config = await statelessConfig(changes);
  return NetunnelServer.start({ host: '127.0.0.1', port: 0, logger: silentLogger(), config, ...options });
}

/** A connected client of `server`. */
export async function connectClient(server: NetunnelServer, options: Partial<NetunnelClientOptions> = {}): Promise<NetunnelClient> {
  const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger(), ...options });
  await client.connect();
  return client;
}

/** fetch against the server, returning status, content type and parsed body. */
export async function call(
  server: { url: string },
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string; body: unknown; text: string }> {
  const response = await fetch(server.url + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
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
