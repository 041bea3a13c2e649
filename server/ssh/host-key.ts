import { readFileSync, writeFileSync } from 'node:fs';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { fingerprintOf } from './authorized-keys.js';
import { generateEd25519Key } from './ed25519-key.js';
import ssh2 from './ssh2.js';

interface HostKey {
  key: Buffer;
  fingerprint: string;
}

/** Loads the host key, generating and saving an ed25519 key (mode 0600) if the file is missing. */
export function loadHostKey(path: string, logger: Logger): HostKey {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new NetunnelError('CONFIG_INVALID', `Cannot read SSH host key ${path}: ${errorMessage(err)}`);
    }
    // Checked before it is saved: a key the server cannot use must not be left for the next start.
    const generated = parseHostKey(Buffer.from(generateEd25519Key().private), `generated for ${path}`, '');
    writeFileSync(path, generated.key, { mode: 0o600, flag: 'wx' });
    logger.info({ path }, `Generated a new SSH host key in ${path}`);
    return generated;
  }
  // Never replaced on our own: clients would meet a changed host key. Earlier versions wrote
  // a bad key one time in 256 (ed25519-key.ts), so say how to get a new one.
  return parseHostKey(key, path, '; remove the file to have a new one generated (clients will see a new host key)');
}

function parseHostKey(key: Buffer, what: string, hint: string): HostKey {
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    throw new NetunnelError('CONFIG_INVALID', `SSH host key ${what} is not a valid private key${first instanceof Error ? `: ${first.message}` : ''}${hint}`);
  }
  return { key, fingerprint: fingerprintOf(first.getPublicSSH()) };
}
