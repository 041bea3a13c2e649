import { readFileSync, writeFileSync } from 'node:fs';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { fingerprintOf } from './authorized-keys.js';
import ssh2 from './ssh2.js';

/** Loads the host key, generating and saving an ed25519 key (mode 0600) if the file is missing. */
export function loadHostKey(path: string, logger: Logger): { key: Buffer; fingerprint: string } {
  let key: Buffer;
  try {
    key = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new NetunnelError('CONFIG_INVALID', `Cannot read SSH host key ${path}: ${errorMessage(err)}`);
    }
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    writeFileSync(path, pair.private, { mode: 0o600, flag: 'wx' });
    key = Buffer.from(pair.private);
    logger.info({ path }, `Generated a new SSH host key in ${path}`);
  }
  const parsed = ssh2.utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    throw new NetunnelError('CONFIG_INVALID', `SSH host key ${path} is not a valid private key${first instanceof Error ? `: ${first.message}` : ''}`);
  }
  return { key, fingerprint: fingerprintOf(first.getPublicSSH()) };
}
