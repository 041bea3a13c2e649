import { createHmac, timingSafeEqual } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import type { ServerHostKeyAlgorithm } from 'ssh2';
import { NetunnelError } from '../../common/errors.js';
import { fingerprintOf } from './authorized-keys.js';
import { globMatches } from './glob-pattern.js';

/** How OpenSSH names a host in known_hosts: `host` on port 22, else `[host]:port`. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export type HostKeyVerdict = { ok: true; learned: boolean } | { ok: false; reason: string };

interface Entry {
  line: number;
  patterns: string;
  type: string;
  key: Buffer;
}

/**
 * Checks an upstream's host key against an OpenSSH known_hosts file (plain, glob and hashed
 * `|1|` host names; `@cert-authority` and `@revoked` lines are not supported and skipped). A host
 * with no line at all is learned (a line appended) only with `trustOnFirstUse`.
 */
export async function checkHostKey(path: string, host: string, port: number, key: Buffer, trustOnFirstUse: boolean): Promise<HostKeyVerdict> {
  const name = knownHostsName(host, port);
  const entries = await entriesFor(path, name);
  const fingerprint = fingerprintOf(key);
  if (entries.some((e) => e.key.length === key.length && timingSafeEqual(e.key, key))) return { ok: true, learned: false };
  const type = keyType(key);
  const sameType = entries.filter((e) => e.type === type);
  if (sameType.length > 0) {
    const lines = sameType.map((e) => e.line).join(', ');
    return { ok: false, reason: `host key of ${name} (${fingerprint}) does not match ${path} line ${lines}: it changed, or something is impersonating it` };
  }
  // Known by keys of other types only: not learned, as a host that is already known is no first use.
  if (entries.length > 0) {
    return { ok: false, reason: `host key of ${name} (${type} ${fingerprint}) is not in ${path}, which has only ${[...new Set(entries.map((e) => e.type))].join(', ')} keys for it` };
  }
  if (!trustOnFirstUse) return { ok: false, reason: `host key of ${name} (${fingerprint}) is not in ${path}` };
  await appendFile(path, `${name} ${type} ${key.toString('base64')}\n`, { mode: 0o600 });
  return { ok: true, learned: true };
}

/**
 * The host key algorithms to ask `host:port` for first, as OpenSSH does: those of the keys
 * known_hosts already has for it, so that a host known by its ECDSA key is not asked for ed25519.
 */
export async function knownHostKeyAlgorithms(path: string, host: string, port: number): Promise<ServerHostKeyAlgorithm[]> {
  const types = new Set((await entriesFor(path, knownHostsName(host, port))).map((e) => e.type));
  return [...types].flatMap((type) => ALGORITHMS_BY_KEY_TYPE[type] ?? []);
}

/** The signature algorithms of each key type ssh2 can check. */
const ALGORITHMS_BY_KEY_TYPE: Record<string, ServerHostKeyAlgorithm[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

async function entriesFor(path: string, name: string): Promise<Entry[]> {
  return (await readKnownHosts(path)).filter((e) => hostMatches(e.patterns, name));
}

async function readKnownHosts(path: string): Promise<Entry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new NetunnelError('CONFIG_INVALID', `cannot read known_hosts file ${path}: ${(err as Error).message}`);
  }
  const entries: Entry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const [patterns, type, base64] = raw.trim().split(/\s+/);
    if (!patterns || !type || !base64 || patterns.startsWith('#') || patterns.startsWith('@')) return;
    entries.push({ line: i + 1, patterns, type, key: Buffer.from(base64, 'base64') });
  });
  return entries;
}

function hostMatches(patterns: string, name: string): boolean {
  if (patterns.startsWith('|1|')) return hashedMatches(patterns, name);
  let matched = false;
  for (const pattern of patterns.split(',')) {
    const negated = pattern.startsWith('!');
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as ssh-keygen -H writes. */
function hashedMatches(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|');
  if (!salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  // OpenSSH hashes the name as it looks it up: in lower case.
  const actual = createHmac('sha1', Buffer.from(salt, 'base64')).update(name.toLowerCase()).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** The type name that opens an SSH wire-format key (a length-prefixed string). */
function keyType(key: Buffer): string {
  const length = key.length >= 4 ? key.readUInt32BE(0) : 0;
  const type = key.subarray(4, 4 + length).toString('latin1');
  if (length === 0 || length > 64 || !/^[a-z0-9@.-]+$/.test(type)) throw new NetunnelError('PROTOCOL', 'the upstream sent a host key that cannot be parsed');
  return type;
}
