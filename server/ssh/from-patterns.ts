import { isIP } from 'node:net';
import { globMatches } from './glob-pattern.js';

/**
 * `from=` patterns, matched against the client's address as sshd matches them (with
 * `UseDNS no`): a pattern that parses as an address or network (`10.0.0.0/8`, `::1`,
 * `0:0:0:0:0:0:0:1`) is compared as numbers, never as text, and only within its own address
 * family; anything else is a `*`/`?` glob on the address's text; `!` negates.
 */

interface Network {
  bytes: Buffer;
  prefix: number;
}

/** Throws a sentence saying what is wrong with the pattern; a line holding one is skipped. */
export function checkFromPattern(pattern: string): void {
  const p = pattern.startsWith('!') ? pattern.slice(1) : pattern;
  if (p.includes('/') || isIP(p)) parseNetwork(p, pattern);
  else if (!/^[A-Za-z0-9.:*?_-]+$/.test(p)) throw new Error(`from= pattern "${pattern}" is not valid`);
}

/** OpenSSH semantics for one pattern list: a matching negated pattern denies; else any positive match allows. */
export function fromPatternsMatch(patterns: string[], ip: string): boolean {
  let allowed = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('!')) {
      if (patternMatches(pattern.slice(1), ip)) return false;
    } else if (patternMatches(pattern, ip)) {
      allowed = true;
    }
  }
  return allowed;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`: sshd matches a mapped client as the IPv4 client it is. */
export function normalizeAddress(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return m ? m[1]! : ip;
}

function patternMatches(pattern: string, ip: string): boolean {
  if (pattern.includes('/') || isIP(pattern)) {
    const network = parseNetwork(pattern, pattern);
    const address = addressBytes(ip);
    return address !== undefined && address.length === network.bytes.length && samePrefix(address, network.bytes, network.prefix);
  }
  return globMatches(pattern, ip);
}

function parseNetwork(text: string, pattern: string): Network {
  const [address = '', bits, ...extra] = text.split('/');
  const bytes = addressBytes(address);
  if (!bytes || extra.length > 0 || (bits !== undefined && !/^\d{1,3}$/.test(bits))) {
    throw new Error(`from= pattern "${pattern}" is not a valid CIDR`);
  }
  const prefix = bits === undefined ? bytes.length * 8 : Number(bits);
  if (prefix > bytes.length * 8) throw new Error(`from= pattern "${pattern}" is not a valid CIDR`);
  // sshd refuses these ("inconsistent mask length") rather than guess which network was meant.
  if (!samePrefix(bytes, Buffer.alloc(bytes.length), bytes.length * 8, prefix)) {
    throw new Error(`from= pattern "${pattern}" has address bits set past /${prefix}; write the network by its first address, as sshd requires`);
  }
  return { bytes, prefix };
}

/** Whether `a` and `b` agree on bits [from, to). */
function samePrefix(a: Buffer, b: Buffer, to: number, from = 0): boolean {
  for (let bit = from; bit < to; bit++) {
    const mask = 0x80 >> (bit % 8);
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** The 4 or 16 bytes of an IP address, or undefined if `text` is not one. */
function addressBytes(text: string): Buffer | undefined {
  const family = isIP(text);
  if (family === 4) return Buffer.from(text.split('.').map(Number));
  if (family !== 6) return undefined;
  let groups = text.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(groups);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    groups = groups.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = groups.split('::');
  const split = (part: string) => (part === '' ? [] : part.split(':'));
  const known = [...split(head), ...(tail === undefined ? [] : split(tail))];
  const words = tail === undefined ? known : [...split(head), ...Array<string>(8 - known.length).fill('0'), ...split(tail)];
  const bytes = Buffer.alloc(16);
  words.forEach((word, i) => bytes.writeUInt16BE(parseInt(word, 16), i * 2));
  return bytes;
}
