import type { ClientRequestArgs } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { NetConnectOpts } from 'node:net';
import WebSocket from 'ws';
import { NetunnelError, errorMessage } from '../common/errors.js';
import { connectWithLargeReads } from '../common/large-reads.js';
import { MAX_RECEIVE_BYTES } from '../common/protocol.js';
import { describeTlsError, proxyAuthError, proxyCreateConnection, tlsConnectOptions } from '../common/proxy-connect.js';
import type { ClientTlsOptions, ProxyOptions, TunnelTarget } from '../common/proxy-connect.js';
import { parseAnswer } from './rest.js';

/** How websockets reach the server: through a proxy (one CONNECT each), and how TLS is checked. */
export interface WebSocketConnection {
  proxy?: ProxyOptions;
  tls?: ClientTlsOptions;
  /** Mask every frame with a random key, even where nothing on the way could read the frames. */
  alwaysMask?: boolean;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  // IPv4-mapped IPv6 addresses are checked against the IPv4 subnet.
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether this client's frames need a random masking key. RFC 6455 masks client frames so
 * that whoever chooses a frame's bytes cannot make them read as HTTP to a cache or proxy
 * on the way that does not understand websockets. Where no such intermediary can read the
 * stream (TLS; a server on this host, reached without a proxy), the mask protects nothing
 * and costs a pass over every byte on both ends: frames then carry the all-zero key, which
 * is valid on the wire and which ws neither applies nor removes.
 */
export function needsRandomMask(target: { host: string; secure: boolean }, connection: WebSocketConnection): boolean {
  if (connection.alwaysMask) return true;
  return !(target.secure || (!connection.proxy && isLoopback(target.host)));
}

const zeroMask = (mask: Buffer) => void mask.fill(0);

const HANDSHAKE_TIMEOUT_MS = 15_000;

/** ws's own plain connect (the request's `path` is a URL path here, not a socket's), with large reads. */
const connectPlain = ((options: ClientRequestArgs) =>
  connectWithLargeReads({ ...options, path: options.socketPath } as NetConnectOpts)) as unknown as WebSocket.ClientOptions['createConnection'];

/** How ws opens its TCP connection: through the proxy, with ws's own TLS connect, or plain with large reads. */
function connectionOption(connection: WebSocketConnection, target: TunnelTarget): Pick<WebSocket.ClientOptions, 'createConnection'> {
  if (connection.proxy) {
    return { createConnection: proxyCreateConnection(connection.proxy, target) as unknown as WebSocket.ClientOptions['createConnection'] };
  }
  return target.secure ? {} : { createConnection: connectPlain };
}

/**
 * Opens a websocket to the server. A refused upgrade becomes the server's own error answer;
 * every websocket gets its own TCP connection, so nothing caps how many run at once.
 *
 * `adopt` runs inside the 'open' event: frames the server sent right behind its upgrade
 * answer are delivered on the next tick, before any promise continuation, so whoever must
 * see them has to attach its listeners there.
 */
export function openWebSocket(
  url: string,
  headers: Record<string, string>,
  adopt?: (ws: WebSocket) => void,
  connection: WebSocketConnection = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const parsed = new URL(url);
    const secure = parsed.protocol === 'wss:';
    const target = { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: Number(parsed.port || (secure ? 443 : 80)), secure, tls: connection.tls };
    const ws = new WebSocket(url, {
      headers,
      perMessageDeflate: false,
      ...(needsRandomMask(target, connection) ? {} : { generateMask: zeroMask }),
      maxPayload: MAX_RECEIVE_BYTES,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      ...(secure ? tlsConnectOptions(connection.tls) : {}),
      ...connectionOption(connection, target),
    });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      ws.removeAllListeners('unexpected-response');
      adopt?.(ws);
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk.slice(0, 4096)));
      response.once('end', () => {
        const status = response.statusCode ?? 0;
        // Without CONNECT (never here, but some proxies answer the upgrade themselves).
        if (connection.proxy && status === 407) {
          reject(proxyAuthError(status));
          ws.terminate();
          return;
        }
        try {
          parseAnswer(response.statusCode ?? 0, text);
          reject(new NetunnelError('PROTOCOL', `the server refused the websocket upgrade (HTTP ${response.statusCode})`));
        } catch (err) {
          reject(err);
        }
        ws.terminate();
      });
    });
    ws.once('error', (err) => {
      if (err instanceof NetunnelError) return reject(err);
      const tlsError = describeTlsError(err);
      if (tlsError) return reject(tlsError);
      reject(new NetunnelError('SERVER_UNREACHABLE', `cannot open a websocket to ${url}: ${errorMessage(err)}`, { cause: err }));
    });
  });
}

/** ws:// or wss:// for an http:// or https:// server URL. */
export function toWebSocketUrl(httpUrl: string): string {
  return httpUrl.replace(/^http/i, 'ws');
}
