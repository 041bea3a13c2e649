import { Agent, request } from 'undici';
import type { Dispatcher } from 'undici';
import { NetunnelError, RemoteError, errorMessage } from '../common/errors.js';
import { createDispatcher, describeTlsError, displayProxyUrl, proxyAuthError } from '../common/proxy-connect.js';
import type { ClientTlsOptions, ProxyOptions } from '../common/proxy-connect.js';

/** Runs a request with credential headers, and may retry it once with new ones (client/auth-session.ts). */
export interface RequestAuthorizer {
  authorize<T>(send: (headers: Record<string, string>) => Promise<T>): Promise<T>;
}

/**
 * Calls a netunnel (or original NETunnel) server's REST API and reads answers by the
 * original's rule: a JSON object with `error` is a failure, an empty body is "no content".
 */
export class RestClient {
  readonly #baseUrl: string;
  readonly #dispatcher: Dispatcher;
  readonly #headers: () => Promise<Record<string, string>>;
  readonly #proxy: ProxyOptions | undefined;
  readonly #authorizer: RequestAuthorizer;

  constructor(
    baseUrl: string,
    options: {
      dispatcher?: Dispatcher;
      headers?: () => Promise<Record<string, string>>;
      proxy?: ProxyOptions;
      tls?: ClientTlsOptions;
      /** Takes the place of `headers`: credentials from an auth plugin, renewed on a refusal. */
      authorizer?: RequestAuthorizer;
    } = {},
  ) {
    this.#baseUrl = baseUrl;
    this.#proxy = options.proxy;
    this.#dispatcher =
      options.dispatcher ?? (options.proxy || options.tls ? createDispatcher(options.proxy, options.tls) : new Agent({ connections: 8 }));
    this.#headers = options.headers ?? (async () => ({}));
    this.#authorizer = options.authorizer ?? { authorize: async (send) => send(await this.#headers()) };
  }

  get<T>(path: string): Promise<T> {
    return this.#call<T>('GET', path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  delete<T>(path: string, body: unknown): Promise<T> {
    return this.#call<T>('DELETE', path, body);
  }

  /** A POST without credentials: how an auth plugin obtains them in the first place. */
  postAnonymously<T>(path: string, body: unknown): Promise<T> {
    return this.#send<T>('POST', path, body, {});
  }

  /** Aborts whatever is still in flight: a server that stopped answering must not hold the caller. */
  async close(): Promise<void> {
    await this.#dispatcher.destroy();
  }

  #call<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<T> {
    return this.#authorizer.authorize((headers) => this.#send<T>(method, path, body, headers));
  }

  async #send<T>(method: Dispatcher.HttpMethod, path: string, body: unknown, headers: Record<string, string>): Promise<T> {
    const url = this.#baseUrl + path;
    let response;
    try {
      response = await request(url, {
        method,
        dispatcher: this.#dispatcher,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
    } catch (err) {
      throw this.#describeFailure(err);
    }
    if (this.#proxy && (response.statusCode === 407 || (response.statusCode === 401 && !response.headers['content-type']?.includes('json')))) {
      await response.body.dump();
      throw proxyAuthError(response.statusCode);
    }
    return parseAnswer<T>(response.statusCode, await response.body.text());
  }

  #describeFailure(err: unknown): NetunnelError {
    const tlsError = describeTlsError(err);
    if (tlsError) return tlsError;
    if (this.#proxy) {
      // undici: "Proxy response (407) !== 200 when HTTP Tunneling" (CONNECT), "Proxy Authentication Required (407)" (absolute form).
      const tunnelStatus = /Proxy (?:response \((\d+)\)|Authentication Required \((\d+)\))/.exec(errorMessage(err))?.slice(1).find(Boolean);
      if (tunnelStatus === '407' || tunnelStatus === '401') return proxyAuthError(Number(tunnelStatus));
      if (tunnelStatus) {
        return new NetunnelError('SERVER_UNREACHABLE', `the proxy at ${displayProxyUrl(this.#proxy)} could not reach the server at ${this.#baseUrl} (HTTP ${tunnelStatus})`, {
          cause: err,
        });
      }
      const reason = describeNetworkError(err);
      // Through a proxy, only the proxy itself can refuse or be missing at the TCP level.
      if (/^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ETIMEDOUT)$/.test(reason)) {
        return new NetunnelError('PROXY_UNREACHABLE', `cannot reach the proxy at ${displayProxyUrl(this.#proxy)}: ${reason}`, { cause: err });
      }
      return new NetunnelError('SERVER_UNREACHABLE', `cannot reach the server at ${this.#baseUrl} through the proxy at ${displayProxyUrl(this.#proxy)}: ${reason}`, {
        cause: err,
      });
    }
    return new NetunnelError('SERVER_UNREACHABLE', `cannot reach the server at ${this.#baseUrl}: ${describeNetworkError(err)}`, { cause: err });
  }
}

export function parseAnswer<T>(status: number, text: string): T {
  let parsed: unknown;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    if (status >= 400) throw new RemoteError(status, text.trim() || `HTTP ${status}`);
    return text as T;
  }
  if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
    const { error, code } = parsed as { error: unknown; code?: unknown };
    throw new RemoteError(status, String(error), typeof code === 'string' ? code : undefined);
  }
  if (status >= 400) throw new RemoteError(status, `HTTP ${status}: ${text}`);
  return parsed as T;
}

function describeNetworkError(err: unknown): string {
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as { code?: string }).code ?? errorMessage(err);
}
