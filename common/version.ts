import { readFileSync } from 'node:fs';

/** netunnel's own version, from the package.json two levels above the compiled file. */
export const NETUNNEL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
