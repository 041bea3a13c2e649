/**
 * The server's global HTTP proxy (wire spec §6): how a stored proxy becomes an undici
 * dispatcher, and the check a new proxy must pass before it is saved.
 */
import { fetch } from 'undici';
import { createDispatcher } from '../common/proxy-connect.js';
import type { ProxyOptions } from '../common/proxy-connect.js';
import { NetunnelError, errorMessage } from '../common/errors.js';

/** A check must not hold an API request (and the caller) for long. */
export const PROXY_CHECK_TIMEOUT_MS = 10_000;

/**
 * GETs `testUrl` through the proxy (following redirects, as the original's check does: its
 * default test URL, https://google.com, redirects) and throws PROXY_CHECK_FAILED unless the
 * final answer is 2xx.
 */
export async function checkProxy(proxy: ProxyOptions, testUrl: string, timeoutMs = PROXY_CHECK_TIMEOUT_MS): Promise<void> {
  // The dispatcher a client uses: http:// in absolute form, https:// through CONNECT.
  const agent = createDispatcher(proxy, undefined);
  const signal = AbortSignal.timeout(timeoutMs);
  let status: number;
  try {
    const response = await fetch(testUrl, { dispatcher: agent, signal });
    status = response.status;
    await response.body?.cancel();
  } catch (err) {
    if (signal.aborted) throw checkFailed(`no answer from ${testUrl} through the proxy within ${timeoutMs / 1000} s`, err);
    throw checkFailed(explainFailure(err, proxy, testUrl), err);
  } finally {
    // The agent served this one check; nothing may linger on its sockets.
    void agent.destroy().catch(() => undefined);
  }
  if (status < 200 || status > 299) throw checkFailed(`the test URL ${testUrl} answered ${status} through the proxy`);
}

const PROXY_CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

function explainFailure(err: unknown, proxy: ProxyOptions, testUrl: string): string {
  const cause = rootCause(err);
  const proxyStatus = /^Proxy (?:response|Authentication Required) \((\d{3})\)/.exec(cause.message)?.[1];
  if (proxyStatus === '407') {
    return proxy.username ? 'the proxy refused the credentials (407)' : 'the proxy requires credentials (407); give username and password';
  }
  // Tunnelling (https) failed: the proxy answered the CONNECT with something other than 200.
  if (proxyStatus) return `the proxy could not open a tunnel to ${new URL(testUrl).host} (${proxyStatus})`;
  // We never open a connection to the test URL ourselves (the proxy does), so these are about the proxy.
  if (PROXY_CONNECT_ERRORS.has(String((cause as NodeJS.ErrnoException).code))) {
    return `cannot connect to the proxy ${proxy.url}: ${cause.message}`;
  }
  // fetch's blocked-port list (the browsers'), e.g. 1, 9, 6000.
  if (cause.message === 'bad port') {
    return `the test URL ${testUrl} uses a port fetch refuses to connect to; choose another test_url`;
  }
  return `GET ${testUrl} through the proxy failed: ${errorMessage(cause)}`;
}

/** fetch reports every network failure as "fetch failed"; the reason is in its causes. */
function rootCause(err: unknown): Error {
  let current = err instanceof Error ? err : new Error(String(err));
  while (current.cause instanceof Error) current = current.cause;
  return current;
}

function checkFailed(reason: string, cause?: unknown): NetunnelError {
  return new NetunnelError('PROXY_CHECK_FAILED', `HTTP proxy check failed: ${reason}`, cause === undefined ? undefined : { cause });
}
