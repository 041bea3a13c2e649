import { NetunnelError } from './errors.js';

/** `--auth-data` of the built-in shared-secret plugin (both sides share `secret`). */
export interface SharedSecretOptions {
  secret: string;
  /** Server only: seconds a token stays valid (default 1800). */
  token_lifetime?: number;
}

/** The secret out of plugin options, or a BAD_REQUEST saying what is wrong with them. */
export function requireSecret(options: unknown, who: string): string {
  const secret = (options as { secret?: unknown } | null | undefined)?.secret;
  if (typeof secret !== 'string' || secret === '') {
    throw new NetunnelError('BAD_REQUEST', `${who} needs a non-empty string "secret" in its auth data, e.g. {"secret": "..."}`);
  }
  return secret;
}
