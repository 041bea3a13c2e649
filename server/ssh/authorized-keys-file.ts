import { readFileSync, statSync } from 'node:fs';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseAuthorizedKeys } from './authorized-keys.js';
import type { AuthorizedKey } from './authorized-keys.js';

/** The authorized_keys file, re-read when its mtime or size changes; the last good set stays in force. */
export class AuthorizedKeysFile {
  private keys: AuthorizedKey[] = [];
  private stamp = '';

  constructor(
    private readonly path: string,
    private readonly logger: Logger,
  ) {
    try {
      statSync(path);
    } catch (err) {
      throw new NetunnelError('CONFIG_INVALID', `SSH authorized_keys file ${path} cannot be read: ${errorMessage(err)}`);
    }
    this.current();
  }

  current(): AuthorizedKey[] {
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    } catch (err) {
      this.logger.error({ path: this.path }, `Cannot read ${this.path} (${errorMessage(err)}); keeping the last good keys`);
      return this.keys;
    }
    if (stamp === this.stamp) return this.keys;
    try {
      const { keys, problems } = parseAuthorizedKeys(readFileSync(this.path, 'utf8'));
      for (const p of problems) this.logger.warn(`${this.path} line ${p.line} skipped: ${p.message}`);
      this.keys = keys;
      this.stamp = stamp;
      this.logger.info(`Loaded ${keys.length} SSH key(s) from ${this.path}`);
    } catch (err) {
      this.logger.error(`Cannot read ${this.path} (${errorMessage(err)}); keeping the last good keys`);
    }
    return this.keys;
  }
}
