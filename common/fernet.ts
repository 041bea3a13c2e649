/**
 * Fernet (https://github.com/fernet/spec), byte-compatible with Python's `cryptography.fernet`,
 * because NETunnel stores `secret_key` and encrypted config values in that format (wire spec §3.4).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NetunnelError } from './errors.js';

const VERSION = 0x80;
const HEADER_LENGTH = 1 + 8 + 16;
const HMAC_LENGTH = 32;
const BLOCK_SIZE = 16;
// PKCS7 always adds at least one block, so no authentic token is shorter than this.
const MIN_TOKEN_LENGTH = HEADER_LENGTH + BLOCK_SIZE + HMAC_LENGTH;
// The same tolerance Python's cryptography applies when a TTL is given.
const MAX_CLOCK_SKEW_SECONDS = 60n;

// Python decodes keys with a lenient base64 decoder that also takes '+' and '/', so keys made
// with e.g. `openssl rand -base64 32` work there; accept them too, but insist on the padding.
const KEY_PATTERN = /^[A-Za-z0-9_+/-]{43}=$/;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]*={0,2}$/;

export interface EncryptOptions {
  /** Unix time in seconds to stamp into the token (default: now). */
  now?: number;
  /** Fixed IV, only for reproducing test vectors; must be 16 bytes. */
  iv?: Buffer;
}

export interface DecryptOptions {
  /** Refuse tokens older than this many seconds (default: no limit, as NETunnel does). */
  ttlSeconds?: number;
  /** Unix time in seconds to judge the TTL against (default: now). */
  now?: number;
}

export class Fernet {
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  static generateKey(): string {
    return toUrlSafe(randomBytes(32).toString('base64'));
  }

  constructor(key: string) {
    const raw = decodeKey(key);
    this.#signingKey = raw.subarray(0, 16);
    this.#encryptionKey = raw.subarray(16, 32);
  }

  encrypt(data: string | Buffer, opts: EncryptOptions = {}): string {
    const iv = opts.iv ?? randomBytes(16);
    if (iv.length !== 16) throw new RangeError(`Fernet IV must be 16 bytes, got ${iv.length}`);
    const header = Buffer.alloc(HEADER_LENGTH);
    header[0] = VERSION;
    header.writeBigUInt64BE(BigInt(unixSeconds(opts.now)), 1);
    iv.copy(header, 9);
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    const payload = Buffer.concat([header, cipher.update(toBuffer(data)), cipher.final()]);
    return toUrlSafe(Buffer.concat([payload, this.#sign(payload)]).toString('base64'));
  }

  decrypt(token: string, opts: DecryptOptions = {}): Buffer {
    const bytes = decodeToken(token);
    const payload = bytes.subarray(0, bytes.length - HMAC_LENGTH);
    if (!timingSafeEqual(this.#sign(payload), bytes.subarray(payload.length))) {
      throw invalidToken('signature does not match (wrong key, or the token was altered)');
    }
    if (opts.ttlSeconds !== undefined) checkAge(payload.readBigUInt64BE(1), opts.ttlSeconds, opts.now);
    return this.#decipher(payload);
  }

  decryptString(token: string, opts: DecryptOptions = {}): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.decrypt(token, opts));
    } catch (err) {
      if (err instanceof NetunnelError) throw err;
      throw invalidToken('the decrypted data is not valid UTF-8 text', err);
    }
  }

  #sign(payload: Buffer): Buffer {
    return createHmac('sha256', this.#signingKey).update(payload).digest();
  }

  #decipher(payload: Buffer): Buffer {
    const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, payload.subarray(9, HEADER_LENGTH));
    try {
      return Buffer.concat([decipher.update(payload.subarray(HEADER_LENGTH)), decipher.final()]);
    } catch (err) {
      throw invalidToken('bad padding after decryption', err);
    }
  }
}

function decodeKey(key: string): Buffer {
  // Python ignores surrounding whitespace too; a key read from a file often ends in a newline.
  const text = typeof key === 'string' ? key.trim() : '';
  if (!KEY_PATTERN.test(text)) throw invalidKey(describeBadKey(text));
  const raw = Buffer.from(toUrlSafe(text), 'base64url');
  if (raw.length !== 32) throw invalidKey(`it decodes to ${raw.length} bytes`);
  return raw;
}

function describeBadKey(text: string): string {
  if (text.length !== 44) return `got ${text.length} characters`;
  if (!text.endsWith('=')) return "it must end with '=' padding";
  return 'it contains characters outside the base64 alphabet';
}

/** Whether `text` is shaped as a Fernet token (whoever's key made it): plain text is not. */
export function isFernetToken(text: string): boolean {
  try {
    decodeToken(text);
    return true;
  } catch {
    return false;
  }
}

function decodeToken(token: string): Buffer {
  // Python also drops characters outside the alphabet, but the Fernet spec's invalid vectors
  // say such tokens must be refused; whitespace around a pasted token is harmless, though.
  const text = typeof token === 'string' ? token.trim() : '';
  if (text.length % 4 !== 0 || !TOKEN_PATTERN.test(text)) {
    throw invalidToken("not url-safe base64 with '=' padding");
  }
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length < MIN_TOKEN_LENGTH) throw invalidToken(`too short (${bytes.length} bytes)`);
  if (bytes[0] !== VERSION) throw invalidToken(`unknown version byte 0x${bytes[0].toString(16)}`);
  if ((bytes.length - HEADER_LENGTH - HMAC_LENGTH) % BLOCK_SIZE !== 0) {
    throw invalidToken('ciphertext is not a whole number of AES blocks');
  }
  return bytes;
}

function checkAge(timestamp: bigint, ttlSeconds: number, now: number | undefined): void {
  const current = BigInt(unixSeconds(now));
  if (timestamp + BigInt(Math.floor(ttlSeconds)) < current) throw invalidToken('expired');
  if (current + MAX_CLOCK_SKEW_SECONDS < timestamp) throw invalidToken('timestamp is in the future');
}

function unixSeconds(now: number | undefined): number {
  const seconds = Math.floor(now ?? Date.now() / 1000);
  if (!Number.isSafeInteger(seconds) || seconds < 0) throw new RangeError(`bad Unix time: ${now}`);
  return seconds;
}

function toUrlSafe(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_');
}

function toBuffer(data: string | Buffer): Buffer {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function invalidKey(detail: string): NetunnelError {
  return new NetunnelError(
    'INVALID_KEY',
    `invalid Fernet key (${detail}): it must be 32 url-safe base64-encoded bytes (44 characters); ` +
      'generate one with `netunnel-security generate-key`',
  );
}

function invalidToken(detail: string, cause?: unknown): NetunnelError {
  return new NetunnelError('INVALID_TOKEN', `invalid token: ${detail}`, { cause });
}
