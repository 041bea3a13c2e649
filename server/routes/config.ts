import type { FastifyPluginAsync } from 'fastify';
import { NetunnelError } from '../../common/errors.js';
import { MASKED_SECRET, routes, schemas } from '../../common/protocol.js';
import type { FactoryResetRequest, HttpProxyResponse, SetHttpProxyRequest } from '../../common/protocol.js';
import type { Channels } from '../channels.js';
import type { Peers } from '../peers/peers.js';
import type { HttpProxyConfig } from '../config/defaults.js';
import type { ConfigStore } from '../config/store.js';
import { checkProxy } from '../http-proxy.js';
import { noContent } from './no-content.js';
import type { ProxyOptions } from '../../common/proxy-connect.js';

/** `/config/http-proxy` and `/config/factory-reset` (wire spec §2.2, §3.1, §6). */
export const configRoutes: FastifyPluginAsync<{ config: ConfigStore; channels: Channels; peers: Peers }> = async (
  app,
  { config, channels, peers },
) => {
  app.get(routes.httpProxy(), async (): Promise<HttpProxyResponse> => describeProxy(config.config.http_proxy));

  app.post<{ Body: SetHttpProxyRequest }>(routes.httpProxy(), { schema: { body: schemas.setHttpProxy } }, async (request) => {
    const settings = proxySettings(request.body);
    // Checked before queueing the update: a slow proxy must not hold up other config changes.
    if (settings && request.body.check_proxy !== false) {
      await checkProxy(settings, httpUrl('test_url', request.body.test_url ?? config.config.http_proxy_test_url));
    }
    await config.update((draft) => {
      // Encrypted here, in the update queue, so a factory reset (new key) cannot slip in between.
      draft.http_proxy = settings ? encrypted(settings, config) : null;
    });
    request.log.info({ proxyUrl: settings?.url ?? null }, settings ? 'HTTP proxy set' : 'HTTP proxy removed');
    // Peers reach out through the proxy: their static tunnels reconnect through the new one.
    await peers.restartAll();
    return describeProxy(config.config.http_proxy);
  });

  app.post<{ Body: FactoryResetRequest | undefined }>(
    routes.factoryReset(),
    { schema: { body: schemas.factoryReset } },
    async (request, reply) => {
      await config.factoryReset();
      // The defaults hold no peers: their static tunnels stop.
      await peers.restartAll();
      const disconnect = request.body?.disconnect_clients === true;
      if (disconnect) await channels.disconnectAll();
      request.log.info({ disconnectClients: disconnect }, 'factory reset done');
      return noContent(reply);
    },
  );
};

function describeProxy(stored: Readonly<HttpProxyConfig> | null): HttpProxyResponse {
  if (!stored?.proxy_url) return {};
  return {
    proxy_url: stored.proxy_url,
    username: stored.username ? MASKED_SECRET : null,
    password: stored.password ? MASKED_SECRET : null,
  };
}

/** The proxy the request asks for (undefined: remove it), or a 400 saying what is wrong. */
function proxySettings(body: SetHttpProxyRequest): ProxyOptions | undefined {
  if (body.proxy_url === null) return undefined;
  // Tunnels reach the proxy with a plain CONNECT: a TLS proxy would pass the check and carry nothing.
  const url = httpUrl('proxy_url', body.proxy_url, ['http:']);
  const { username, password } = new URL(url);
  if (username || password) {
    throw badRequest('proxy_url must not hold credentials (they would be stored in clear); send username and password instead');
  }
  // Empty strings count as absent, as in the original client.
  if (Boolean(body.username) !== Boolean(body.password)) {
    throw badRequest('HTTP proxy authentication should include both username and password');
  }
  return body.username ? { url, username: body.username, password: body.password } : { url };
}

function httpUrl(field: string, value: string, protocols = ['http:', 'https:']): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badRequest(`${field} is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw badRequest(`${field} must be an ${protocols.map((p) => `${p}//`).join(' or ')} URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

function encrypted({ url, username, password }: ProxyOptions, config: ConfigStore): HttpProxyConfig {
  return {
    proxy_url: url,
    username: username ? config.encryptSecret(username) : null,
    password: password ? config.encryptSecret(password) : null,
  };
}

function badRequest(message: string): NetunnelError {
  return new NetunnelError('BAD_REQUEST', message);
}
