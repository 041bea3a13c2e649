import { createHash, timingSafeEqual } from 'node:crypto';
import type { ParsedKey } from 'ssh2';
import { nameProblem, sameName } from '../tunnel-registry.js';
import { checkFromPattern, fromPatternsMatch, normalizeAddress } from './from-patterns.js';
import ssh2 from './ssh2.js';

/** listen: ssh -R; initiate: ssh -W/-L/-D/-J and `list`; proxy: sessions go to an `ssh.upstreams` host. */
export type Access = 'listen' | 'initiate' | 'proxy';

const ACCESS_LEVELS: readonly string[] = ['listen', 'initiate', 'proxy'];

export interface AuthorizedKey {
  line: number;
  /** ssh2's key type, e.g. 'ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256'. */
  type: string;
  /** SSH wire-format public key. */
  publicSSH: Buffer;
  /** `SHA256:...` as OpenSSH prints it. */
  fingerprint: string;
  key: ParsedKey;
  comment: string;
  access: Set<Access>;
  /** Every entry is one `from=` option; each must match. */
  from: string[][];
  hostname?: string;
  aliases: string[];
  /** `name:port` patterns (port may be `*`); empty = anything. */
  permitOpen: { host: string; port: number | '*' }[];
  /** Virtual ports `-R` may take (`*` = any); empty = any. */
  permitListen: (number | '*')[];
  /** `expiry-time=`: the line admits no one from then on. */
  expiresAt?: Date;
  noPortForwarding: boolean;
  /** The reverse proxy must not pass this key's ssh-agent upstream. */
  noAgentForwarding: boolean;
}

export interface Problem {
  line: number;
  message: string;
}

export interface AuthorizedKeys {
  keys: AuthorizedKey[];
  problems: Problem[];
}

const KEY_TYPE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|ssh-dss|sk-[a-z0-9@.-]+|[a-z0-9-]+-cert-v01@openssh\.com)$/;

export function fingerprintOf(publicSSH: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicSSH).digest('base64').replace(/=+$/, '')}`;
}

/** Parses an OpenSSH authorized_keys file. Malformed lines are returned as problems and skipped. */
export function parseAuthorizedKeys(text: string): AuthorizedKeys {
  const keys: AuthorizedKey[] = [];
  const problems: Problem[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    try {
      keys.push(parseLine(trimmed, line));
    } catch (err) {
      problems.push({ line, message: err instanceof Error ? err.message : String(err) });
    }
  });
  return { keys, problems };
}

function parseLine(text: string, line: number): AuthorizedKey {
  let options: [string, string | undefined][] = [];
  let rest = text;
  const firstWord = /^\S+/.exec(text)![0];
  if (!KEY_TYPE.test(firstWord)) {
    const parsed = splitOptions(text);
    options = parsed.options;
    rest = parsed.rest.trim();
  }
  const [type, base64, ...commentWords] = rest.split(/\s+/);
  if (!type || !base64) throw new Error('expected a key type and a base64 key');
  if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521))$/.test(type)) {
    throw new Error(`unsupported key type "${type}" (use ssh-ed25519, ecdsa-sha2-nistp* or ssh-rsa)`);
  }
  const parsed = ssh2.utils.parseKey(`${type} ${base64}`);
  if (parsed instanceof Error) throw new Error(`invalid ${type} key: ${parsed.message}`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key.type !== type) throw new Error(`invalid ${type} key`);
  const publicSSH = key.getPublicSSH();
  const entry: AuthorizedKey = {
    line,
    type: key.type,
    publicSSH,
    fingerprint: fingerprintOf(publicSSH),
    key,
    comment: commentWords.join(' '),
    access: new Set(),
    from: [],
    aliases: [],
    permitOpen: [],
    permitListen: [],
    noPortForwarding: false,
    noAgentForwarding: false,
  };
  // restrict turns off what port-forwarding / agent-forwarding turn back on, in any order (sshd(8)).
  let restrict = false;
  const enabled = new Set<string>();
  for (const [rawName, value] of options) {
    const name = rawName.toLowerCase();
    const need = (): string => {
      if (value === undefined) throw new Error(`option ${rawName} needs a value`);
      return value;
    };
    switch (name) {
      case 'access': {
        const v = need();
        if (!ACCESS_LEVELS.includes(v)) throw new Error(`unknown access level "${v}" (use listen, initiate or proxy)`);
        entry.access.add(v as Access);
        break;
      }
      case 'from': {
        const patterns = need().split(',').map((p) => p.trim()).filter((p) => p !== '');
        if (patterns.length === 0) throw new Error('from= needs at least one pattern');
        for (const p of patterns) checkFromPattern(p);
        entry.from.push(patterns);
        break;
      }
      case 'hostname':
        if (entry.hostname !== undefined) throw new Error('hostname= given more than once');
        entry.hostname = checkName(need(), 'hostname');
        break;
      case 'alias':
        entry.aliases.push(checkName(need(), 'alias'));
        break;
      case 'permitopen': {
        const v = need();
        const m = /^(.+):(\d{1,5}|\*)$/.exec(v);
        if (!m) throw new Error(`permitopen="${v}" must be name:port`);
        entry.permitOpen.push({ host: m[1]!, port: m[2] === '*' ? '*' : Number(m[2]) });
        break;
      }
      case 'permitlisten': {
        // The host part binds nothing here (the ports are virtual): only the port restricts.
        const v = need();
        const m = /^(?:.+:)?(\d{1,5}|\*)$/.exec(v);
        if (!m) throw new Error(`permitlisten="${v}" must be [host:]port`);
        entry.permitListen.push(m[1] === '*' ? '*' : Number(m[1]));
        break;
      }
      case 'expiry-time':
        entry.expiresAt = parseExpiry(need());
        break;
      case 'no-port-forwarding':
        entry.noPortForwarding = true;
        break;
      case 'no-agent-forwarding':
        entry.noAgentForwarding = true;
        break;
      case 'restrict':
        restrict = true;
        break;
      case 'port-forwarding':
      case 'agent-forwarding':
        enabled.add(name);
        break;
      case 'cert-authority':
      case 'principals':
        // Ignoring it would let the CA's own key log in as a user key.
        throw new Error(`${rawName} is for certificates, which this server does not accept`);
      default:
        // Other OpenSSH options (no-pty, command=, ...) do not matter here.
        break;
    }
  }
  if (restrict) {
    entry.noPortForwarding ||= !enabled.has('port-forwarding');
    entry.noAgentForwarding ||= !enabled.has('agent-forwarding');
  }
  return entry;
}

/** sshd's timespec: YYYYMMDD[HHMM[SS]], local time unless it ends in Z (UTC). */
function parseExpiry(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(value);
  if (!m) throw new Error(`expiry-time="${value}" must be YYYYMMDD[HHMM[SS]][Z]`);
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((part) => Number(part ?? 0)) as [number, number, number, number, number, number];
  const utc = m[7] !== '';
  const date = utc ? new Date(Date.UTC(year, month - 1, day, hour, minute, second)) : new Date(year, month - 1, day, hour, minute, second);
  // Date rolls 20260231 over into March: a field out of range shows as a different day.
  const fields = utc ? [date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes()] : [date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes()];
  if (fields.join() !== [month, day, hour, minute].join() || second > 59) throw new Error(`expiry-time="${value}" is not a date`);
  return date;
}

/** A name the registry will take (checked now: at `-R` time the line's error would be lost on the client). */
function checkName(value: string, option: string): string {
  const problem = nameProblem(value);
  if (problem) throw new Error(`${option}="${value}" is not a valid name: ${problem}`);
  return value;
}

/** Splits the option prefix (`a,b="x,y",c`) from the rest of the line. */
function splitOptions(text: string): { options: [string, string | undefined][]; rest: string } {
  const options: [string, string | undefined][] = [];
  let i = 0;
  for (;;) {
    const nameMatch = /^[A-Za-z0-9_-]+/.exec(text.slice(i));
    if (!nameMatch) throw new Error(`bad option syntax at column ${i + 1}`);
    const name = nameMatch[0];
    i += name.length;
    let value: string | undefined;
    if (text[i] === '=') {
      i++;
      if (text[i] !== '"') throw new Error(`option ${name} needs a quoted value`);
      i++;
      value = '';
      for (;;) {
        if (i >= text.length) throw new Error(`unterminated quoted value of option ${name}`);
        const c = text[i]!;
        if (c === '\\' && text[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (c === '"') {
          i++;
          break;
        } else {
          value += c;
          i++;
        }
      }
    }
    options.push([name, value]);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === ' ' || text[i] === '\t') return { options, rest: text.slice(i) };
    throw new Error(i >= text.length ? 'options but no key' : `bad option syntax at column ${i + 1}`);
  }
}

/** Every `from=` option of the key must match the client's address (compared by IP only). */
export function fromAllows(key: AuthorizedKey, ip: string): boolean {
  const address = normalizeAddress(ip);
  return key.from.every((patterns) => fromPatternsMatch(patterns, address));
}

/** True unless the line's `expiry-time=` has passed. */
export function notExpired(key: AuthorizedKey, now = new Date()): boolean {
  return key.expiresAt === undefined || now < key.expiresAt;
}

/** True if the key's `permitlisten=` options (if any) allow the virtual port. */
export function permitListenAllows(key: AuthorizedKey, port: number): boolean {
  return key.permitListen.length === 0 || key.permitListen.some((allowed) => allowed === '*' || allowed === port);
}

/**
 * True if the key's `permitopen=` options (if any) allow `host:port`; host names match whatever
 * their case, as registry names do, and `*` is any host or port, as with sshd.
 */
export function permitOpenAllows(key: AuthorizedKey, host: string, port: number): boolean {
  if (key.permitOpen.length === 0) return true;
  return key.permitOpen.some((p) => (p.host === '*' || sameName(p.host, host)) && (p.port === '*' || p.port === port));
}

/** The lines whose public blob equals `data` (constant-time compare), in file order. */
export function linesWithKey(keys: AuthorizedKey[], algo: string, data: Buffer): AuthorizedKey[] {
  return keys.filter((k) => k.type === algo && k.publicSSH.length === data.length && timingSafeEqual(k.publicSSH, data));
}
