import { generateKeyPairSync, randomBytes } from 'node:crypto';

const KEY_TYPE = 'ssh-ed25519';
/** The openssh-key-v1 format's magic, NUL included (OpenSSH's PROTOCOL.key). */
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
/** An unencrypted key pads its private section to a multiple of this. */
const BLOCK_BYTES = 8;
/** OpenSSH wraps the base64 of a private key at this width. */
const LINE_CHARS = 70;

/** A key pair in OpenSSH's own formats: the private key file, and an authorized_keys entry. */
export interface Ed25519KeyPair {
  private: string;
  public: string;
}

/**
 * A new ed25519 key pair, encoded here rather than by ssh2's `generateKeyPairSync`: ssh2 strips
 * every leading zero byte from the public key, so one key in 256 comes out 31 bytes long and
 * unreadable, by ssh2 itself as by OpenSSH (mscdex/ssh2#1390). A server generating its host
 * key would then refuse to start, and again at every start after, the bad file being kept.
 */
export function generateEd25519Key(): Ed25519KeyPair {
  // Encoded by the generator itself, not exported from the key objects afterwards: Node 20's
  // export of a fresh key can deadlock when a GC inside it frees the finished generation job,
  // which takes the key's lock the export holds (seen in CI; one run in three of 100000 keys).
  const der = generateKeyPairSync('ed25519', {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  const seed = lastBytes(der.privateKey, PKCS8_BYTES, 'private');
  const publicKey = lastBytes(der.publicKey, SPKI_BYTES, 'public');
  const publicBlob = Buffer.concat([sshString(KEY_TYPE), sshString(publicKey)]);
  return {
    private: privateKeyFile(publicBlob, privateSection(publicKey, seed)),
    public: `${KEY_TYPE} ${publicBlob.toString('base64')}`,
  };
}

/** An ed25519 key's DER: a fixed prefix (RFC 8410), then the 32 key bytes. */
const PKCS8_BYTES = 48;
const SPKI_BYTES = 44;
const KEY_BYTES = 32;

function lastBytes(der: Buffer, length: number, what: string): Buffer {
  if (der.length !== length) throw new Error(`unexpected ed25519 ${what} key encoding (${der.length} bytes)`);
  return der.subarray(length - KEY_BYTES);
}

/** The private section: a random check word twice (a decryption check), the key, padding. */
function privateSection(publicKey: Buffer, seed: Buffer): Buffer {
  const check = randomBytes(4);
  const section = Buffer.concat([
    check,
    check,
    sshString(KEY_TYPE),
    sshString(publicKey),
    sshString(Buffer.concat([seed, publicKey])),
    sshString(''),
  ]);
  const padding = Buffer.from(Array.from({ length: (BLOCK_BYTES - (section.length % BLOCK_BYTES)) % BLOCK_BYTES }, (_, i) => i + 1));
  return Buffer.concat([section, padding]);
}

function privateKeyFile(publicBlob: Buffer, section: Buffer): string {
  const body = Buffer.concat([
    MAGIC,
    sshString('none'),
    sshString('none'),
    sshString(''),
    uint32(1),
    sshString(publicBlob),
    sshString(section),
  ]);
  const lines = body.toString('base64').match(new RegExp(`.{1,${LINE_CHARS}}`, 'g'))!;
  return ['-----BEGIN OPENSSH PRIVATE KEY-----', ...lines, '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');
}

/** SSH's `string`: a 32-bit big-endian length, then the bytes. */
function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

function uint32(n: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(n);
  return buffer;
}
