/**
 * Every error netunnel raises on purpose carries a stable code, and an HTTP status for
 * when it crosses the REST API. Anything else reaching a route handler is our own fault (500).
 */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'UPGRADE_REQUIRED'
  | 'FORBIDDEN'
  | 'AUTH_FAILED'
  | 'CONFLICT'
  | 'LIMIT_REACHED'
  | 'DESTINATION_NOT_ALLOWED'
  | 'ENTRANCE_NOT_ALLOWED'
  | 'BIND_FAILED'
  | 'CHANNEL_CLOSED'
  | 'SHUTTING_DOWN'
  | 'TIMEOUT'
  | 'PROTOCOL'
  | 'SERVER_UNREACHABLE'
  | 'PEER_UNREACHABLE'
  | 'REMOTE_ERROR'
  | 'INVALID_KEY'
  | 'INVALID_TOKEN'
  | 'CONFIG_INVALID'
  | 'CONFIG_SAVE_FAILED'
  | 'CONFIG_CHANGED_ON_DISK'
  | 'PROXY_CHECK_FAILED'
  | 'PROXY_AUTH_FAILED'
  | 'PROXY_UNREACHABLE'
  | 'TLS_CERTIFICATE'
  | 'HOST_KEY_REJECTED'
  | 'INTERNAL';

const STATUS_BY_CODE: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  UPGRADE_REQUIRED: 426,
  FORBIDDEN: 403,
  // The server (or a peer) refused our credentials.
  AUTH_FAILED: 403,
  CONFLICT: 409,
  LIMIT_REACHED: 429,
  DESTINATION_NOT_ALLOWED: 403,
  ENTRANCE_NOT_ALLOWED: 403,
  BIND_FAILED: 409,
  CHANNEL_CLOSED: 503,
  SHUTTING_DOWN: 503,
  TIMEOUT: 504,
  PROTOCOL: 502,
  SERVER_UNREACHABLE: 502,
  PEER_UNREACHABLE: 502,
  REMOTE_ERROR: 502,
  INVALID_KEY: 400,
  INVALID_TOKEN: 400,
  CONFIG_INVALID: 400,
  CONFIG_SAVE_FAILED: 500,
  // Someone edited the file by hand since the server read it: saving would throw their edits away.
  CONFIG_CHANGED_ON_DISK: 409,
  // The caller gave a proxy that does not work from here: theirs to fix.
  PROXY_CHECK_FAILED: 400,
  // The client's proxy refused its credentials, or its server's certificate did not verify.
  PROXY_AUTH_FAILED: 502,
  PROXY_UNREACHABLE: 502,
  TLS_CERTIFICATE: 502,
  // An SSH upstream's host key is unknown or changed (known_hosts).
  HOST_KEY_REJECTED: 502,
  INTERNAL: 500,
};

export class NetunnelError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NetunnelError';
    this.code = code;
    this.statusCode = options?.statusCode ?? STATUS_BY_CODE[code];
  }
}

/** An error answer from a netunnel (or original NETunnel) server's REST API. */
export class RemoteError extends NetunnelError {
  readonly remoteCode: string | undefined;

  constructor(statusCode: number, message: string, remoteCode?: string) {
    super('REMOTE_ERROR', message, { statusCode });
    this.name = 'RemoteError';
    this.remoteCode = remoteCode;
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
