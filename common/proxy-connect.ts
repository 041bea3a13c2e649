import http from 'node:http';
import net from 'node:net';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { Agent, ProxyAgent } from 'undici';
import type { Dispatcher } from 'undici';
import { NetunnelError, errorMessage } from './errors.js';

/** An HTTP proxy every REST call and websocket goes through. */
export interface ProxyOptions {
  url: string;
  username?: string;
  password?: string;
}

/** How the server's certificate is checked on https:// URLs. */
export interface ClientTlsOptions {
  /** Extra CA certificates (PEM), trusted beside the system's. */
  ca?: Buffer;
  /** false: accept any certificate (--no-ssl-validate). Default true. */
  rejectUnauthorized?: boolean;
}

const CONNECT_TIMEOUT_MS = 15_000;

/** `Proxy-Authorization` value, only when both user name and password are given (as the original). */
export function proxyAuthorization(proxy: ProxyOptions): string | undefined {
  let { username, password } = proxy;
  if (username === undefined && password === undefined) {
    // http://user:pass@host:port, as curl and most tools accept it.
    try {
      const url = new URL(proxy.url);
      username = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return undefined;
    }
  }
  if (!username || !password) return undefined;
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** The proxy URL without any user info, fit for messages and logs. */
export function displayProxyUrl(proxy: ProxyOptions): string {
  try {
    const url = new URL(proxy.url);
    url.username = '';
    url.password = '';
    return url.origin;
  } catch {
    return '(invalid proxy URL)';
  }
}

/** Node TLS options for a client: system CAs plus `ca`, or no verification. */
export function tlsConnectOptions(options: ClientTlsOptions | undefined): { ca?: string[]; rejectUnauthorized: boolean } {
  const rejectUnauthorized = options?.rejectUnauthorized ?? true;
  return options?.ca ? { ca: [...tls.rootCertificates, options.ca.toString('utf8')], rejectUnauthorized } : { rejectUnauthorized };
}

/** The dispatcher for REST calls: through the proxy when there is one. */
export function createDispatcher(proxy: ProxyOptions | undefined, tlsOptions: ClientTlsOptions | undefined): Dispatcher {
  const requestTls = tlsConnectOptions(tlsOptions);
  if (!proxy) return new Agent({ connections: 8, connect: requestTls });
  const token = proxyAuthorization(proxy);
  const uri = new URL(proxy.url);
  uri.username = '';
  uri.password = '';
  return new ProxyAgent({
    uri: uri.href,
    ...(token ? { token } : {}),
    requestTls,
    // http:// servers are reached in absolute form, as the original; https:// ones through CONNECT.
    proxyTunnel: false,
    connections: 8,
  });
}

export function proxyAuthError(status: number): NetunnelError {
  const reason = status === 407 ? '407 Proxy Authentication Required' : `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
  return new NetunnelError('PROXY_AUTH_FAILED', `the proxy refused the credentials (${reason})`);
}

/** A failed certificate check (or other TLS failure) as one clear sentence; undefined when `err` is none. */
export function describeTlsError(err: unknown): NetunnelError | undefined {
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: string }).code ?? '';
    // OpenSSL's messages end in a newline; the reason is one line.
    const message = e.message.trim().replace(/\s*\n\s*/g, ' ');
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new NetunnelError('TLS_CERTIFICATE', `the server's certificate does not match its name (${message}); use --no-ssl-validate to accept it anyway`, {
        cause: e,
      });
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ISSUER/.test(code) && !code.startsWith('ERR_')) {
      return new NetunnelError('TLS_CERTIFICATE', `the server's certificate is not trusted (${message}); use --ca FILE or --no-ssl-validate`, {
        cause: e,
      });
    }
    if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code.startsWith('ERR_SSL_')) {
      return new NetunnelError('TLS_CERTIFICATE', `the TLS handshake with the server failed (${message}); is it serving https?`, { cause: e });
    }
  }
  return undefined;
}

export interface TunnelTarget {
  host: string;
  port: number;
  /** Wrap the tunnel in TLS (https/wss servers). */
  secure: boolean;
  tls?: ClientTlsOptions;
}

/**
 * Opens a socket to `target` through the proxy with one HTTP CONNECT (nothing pooled, nothing
 * capped), then TLS inside it for a secure target.
 */
export function connectThroughProxy(proxy: ProxyOptions, target: TunnelTarget): Promise<Socket> {
  const proxyUrl = new URL(proxy.url);
  const authority = `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
  const token = proxyAuthorization(proxy);
  return new Promise<Socket>((resolve, reject) => {
    const request = http.request({
      host: proxyUrl.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxyUrl.port || 80),
      method: 'CONNECT',
      path: authority,
      headers: { host: authority, ...(token ? { 'proxy-authorization': token } : {}) },
      agent: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    request.once('connect', (response, socket, head) => {
      const status = response.statusCode ?? 0;
      if (status === 407 || status === 401) {
        socket.destroy();
        return reject(proxyAuthError(status));
      }
      if (status !== 200) {
        socket.destroy();
        return reject(
          new NetunnelError('SERVER_UNREACHABLE', `the proxy at ${displayProxyUrl(proxy)} could not reach ${authority} (HTTP ${status} ${response.statusMessage ?? ''})`.trim()),
        );
      }
      if (head.length > 0) socket.unshift(head);
      socket.setTimeout(0);
      resolve(socket);
    });
    request.once('response', (response) => {
      // A proxy that answers CONNECT with a normal response (no tunnel).
      response.resume();
      const status = response.statusCode ?? 0;
      reject(status === 407 || status === 401 ? proxyAuthError(status) : new NetunnelError('PROTOCOL', `the proxy at ${displayProxyUrl(proxy)} did not open a tunnel (HTTP ${status})`));
    });
    request.once('timeout', () => request.destroy(new NetunnelError('PROXY_UNREACHABLE', `the proxy at ${displayProxyUrl(proxy)} did not answer in time`)));
    request.once('error', (err) => {
      reject(
        err instanceof NetunnelError
          ? err
          : new NetunnelError('PROXY_UNREACHABLE', `cannot reach the proxy at ${displayProxyUrl(proxy)}: ${networkReason(err)}`, { cause: err }),
      );
    });
    request.end();
  }).then((socket) => (target.secure ? startTls(socket, target) : socket));
}

function startTls(socket: Socket, target: TunnelTarget): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const secure = tls.connect({
      socket,
      host: target.host,
      // SNI carries names only.
      ...(net.isIP(target.host) ? {} : { servername: target.host }),
      ...tlsConnectOptions(target.tls),
    });
    secure.once('secureConnect', () => {
      secure.off('error', onError);
      resolve(secure);
    });
    const onError = (err: Error) => {
      socket.destroy();
      reject(describeTlsError(err) ?? new NetunnelError('SERVER_UNREACHABLE', `TLS through the proxy failed: ${errorMessage(err)}`, { cause: err }));
    };
    secure.once('error', onError);
  });
}

/**
 * A `createConnection` for ws (and node:http): every websocket gets its own CONNECT tunnel.
 * Node calls it with a callback and accepts the socket later.
 */
export function proxyCreateConnection(proxy: ProxyOptions, target: TunnelTarget) {
  return (_options: unknown, callback: (err: Error | null, socket?: Socket) => void): undefined => {
    connectThroughProxy(proxy, target).then(
      (socket) => callback(null, socket),
      (err: Error) => callback(err),
    );
    return undefined;
  };
}

function networkReason(err: unknown): string {
  return (err as { code?: string }).code ?? errorMessage(err);
}
