/**
 * `netunnel-server config create PATH [--custom-changes JSON]`: writes a complete config file
 * (defaults ← env ← custom changes), as the original's `netunnel.server.config create` does,
 * but also for a bare file name, and with a clear line for bad input instead of a traceback.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { writeFileAtomic } from '../../common/atomic-file.js';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import { Fernet } from '../../common/fernet.js';
import { KEY_SCHEMAS, defaultConfig, findProblem, problemText } from './defaults.js';
import type { ServerConfig } from './defaults.js';
import { readEnvConfig, readEnvSecretKey } from './env.js';
import { sealPlainProxyCredentials } from './secrets.js';

const OPTION = '--custom-changes';

/** Like the original, an existing file at `path` is replaced: the command is an explicit request. */
export async function createConfigFile(path: string, customChanges?: string): Promise<void> {
  const changes = parseCustomChanges(customChanges);
  const config = { ...defaultConfig(), ...readEnvConfig(process.env), ...changes } as ServerConfig;
  // Stored as the server stores them, under the key it will use (generated into the file if none).
  sealPlainProxyCredentials(config, () => new Fernet(readEnvSecretKey(process.env) ?? (config.secret_key ??= Fernet.generateKey())));
  const text = `${JSON.stringify(config, null, 4)}\n`;
  try {
    await makeDirectories(dirname(resolve(path)));
    // The file may hold a secret key and encrypted credentials.
    await writeFileAtomic(path, text, 0o600);
  } catch (err) {
    throw new NetunnelError('CONFIG_SAVE_FAILED', `cannot write config file ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/** `mkdir -p`, bounded by the path's depth: Node 20's recursive mkdir spins forever under /proc. */
async function makeDirectories(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // An existing file in the way fails the write that follows, with its own clear reason.
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || dirname(dir) === dir) throw err;
    await makeDirectories(dirname(dir));
    await mkdir(dir);
  }
}

function parseCustomChanges(json: string | undefined): Record<string, unknown> {
  if (json === undefined || json.trim() === '') return {};
  const changes = parseJsonObject(json);
  const problem = findProblem(changes, KEY_SCHEMAS);
  if (problem) throw invalid(`${OPTION}, key "${problem.name}": ${problemText(problem)}`);
  if (typeof changes.secret_key === 'string') checkKey(changes.secret_key);
  return changes;
}

function parseJsonObject(json: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw invalid(`${OPTION}: not valid JSON (${errorMessage(err).replace(/\s+/g, ' ')})`, err);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    const got = Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value;
    throw invalid(`${OPTION}: expected a JSON object of config keys, got ${got}`);
  }
  return value as Record<string, unknown>;
}

function checkKey(key: string): void {
  try {
    new Fernet(key);
  } catch (err) {
    throw invalid(`${OPTION}, key "secret_key": ${errorMessage(err)}`, err);
  }
}

function invalid(message: string, cause?: unknown): NetunnelError {
  return new NetunnelError('CONFIG_INVALID', message, cause === undefined ? undefined : { cause });
}
