import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Fernet } from '../common/fernet.js';
import { NetunnelError } from '../common/errors.js';

interface Vector {
  desc?: string;
  token: string;
  now: string;
  secret: string;
  src?: string;
  iv?: number[];
  ttl_sec?: number;
}

const KEY = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
const PYTHON = '/usr/bin/python3';

// Tests run from dist/test/, the fixtures stay in the source tree.
function loadVectors(name: string): Vector[] {
  const url = new URL(`../../test/fixtures/fernet/${name}`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Vector[];
}

function unixSeconds(iso: string): number {
  return Date.parse(iso) / 1000;
}

function isCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof NetunnelError && err.code === code;
}

test('generate vectors produce exactly the spec token', () => {
  for (const v of loadVectors('generate.json')) {
    const token = new Fernet(v.secret).encrypt(v.src ?? '', { now: unixSeconds(v.now), iv: Buffer.from(v.iv ?? []) });
    assert.equal(token, v.token);
  }
});

test('verify vectors decrypt to their source', () => {
  for (const v of loadVectors('verify.json')) {
    const plain = new Fernet(v.secret).decrypt(v.token, { ttlSeconds: v.ttl_sec, now: unixSeconds(v.now) });
    assert.equal(plain.toString('utf8'), v.src);
  }
});

test('every invalid vector is refused with INVALID_TOKEN', () => {
  const vectors = loadVectors('invalid.json');
  assert.ok(vectors.length >= 8);
  for (const v of vectors) {
    const fernet = new Fernet(v.secret);
    const opts = { ttlSeconds: v.ttl_sec, now: unixSeconds(v.now) };
    assert.throws(() => fernet.decrypt(v.token, opts), isCode('INVALID_TOKEN'), v.desc);
  }
});

test('round trip of text and binary data, with no TTL by default', () => {
  const fernet = new Fernet(Fernet.generateKey());
  const binary = Buffer.from([0, 255, 128, 10, 13]);
  assert.deepEqual(fernet.decrypt(fernet.encrypt(binary)), binary);
  assert.equal(fernet.decryptString(fernet.encrypt('pässwörd ✓')), 'pässwörd ✓');
  assert.equal(fernet.decryptString(fernet.encrypt('')), '');
  const old = fernet.encrypt('old', { now: 1 });
  assert.equal(fernet.decryptString(old), 'old');
  assert.throws(() => fernet.decrypt(old, { ttlSeconds: 60 }), isCode('INVALID_TOKEN'));
});

test('tokens are padded url-safe base64 starting with gAAAAA', () => {
  const fernet = new Fernet(KEY);
  for (let len = 0; len < 40; len++) {
    const token = fernet.encrypt('x'.repeat(len));
    assert.match(token, /^gAAAAA[A-Za-z0-9_-]*={0,2}$/);
    assert.equal(token.length % 4, 0);
  }
});

test('generateKey makes distinct valid 44-character keys', () => {
  const a = Fernet.generateKey();
  const b = Fernet.generateKey();
  assert.match(a, /^[A-Za-z0-9_-]{43}=$/);
  assert.notEqual(a, b);
  assert.doesNotThrow(() => new Fernet(a));
});

test('bad keys are refused with INVALID_KEY and a pointer to generate-key', () => {
  for (const key of ['', 'passphrase', KEY.slice(0, -1), KEY + 'A', `${KEY.slice(0, 40)}%%%=`, KEY.replace('=', 'A')]) {
    assert.throws(
      () => new Fernet(key),
      (err) => isCode('INVALID_KEY')(err) && /44 characters.*netunnel-security generate-key/.test((err as Error).message),
      JSON.stringify(key),
    );
  }
  assert.equal(new NetunnelError('INVALID_KEY', 'x').statusCode, 400);
});

test('keys are accepted the way Python accepts them', () => {
  const token = new Fernet(KEY).encrypt('hi');
  assert.equal(new Fernet(`${KEY}\n`).decryptString(token), 'hi');
  const standardAlphabet = KEY.replace(/-/g, '+').replace(/_/g, '/');
  assert.equal(new Fernet(standardAlphabet).decryptString(token), 'hi');
});

test('tampering with any byte of a token is detected', () => {
  const fernet = new Fernet(KEY);
  const raw = Buffer.from(fernet.encrypt('secret data'), 'base64url');
  for (let i = 0; i < raw.length; i++) {
    const bad = Buffer.from(raw);
    bad[i] ^= 1;
    const token = bad.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
    assert.throws(() => fernet.decrypt(token), isCode('INVALID_TOKEN'), `byte ${i}`);
  }
});

test('token syntax: padding required, surrounding whitespace tolerated, wrong key refused', () => {
  const fernet = new Fernet(KEY);
  const token = fernet.encrypt('hello');
  assert.equal(fernet.decryptString(`${token}\n`), 'hello');
  const unpadded = token.replace(/=+$/, '');
  if (unpadded !== token) assert.throws(() => fernet.decrypt(unpadded), isCode('INVALID_TOKEN'));
  assert.throws(() => fernet.decrypt('not a token'), isCode('INVALID_TOKEN'));
  assert.throws(() => fernet.decrypt(''), isCode('INVALID_TOKEN'));
  assert.throws(() => new Fernet(Fernet.generateKey()).decrypt(token), isCode('INVALID_TOKEN'));
  const future = fernet.encrypt('x', { now: 2000 });
  assert.throws(() => fernet.decrypt(future, { ttlSeconds: 60, now: 1000 }), isCode('INVALID_TOKEN'));
  assert.equal(fernet.decryptString(future, { ttlSeconds: 60, now: 1990 }), 'x');
});

test('decryptString refuses plaintext that is not UTF-8', () => {
  const fernet = new Fernet(KEY);
  assert.throws(() => fernet.decryptString(fernet.encrypt(Buffer.from([0xff, 0xfe]))), isCode('INVALID_TOKEN'));
});

// Hex on the command line keeps the check independent of the locale CI runs Python under.
const PYTHON_INTEROP = `
import sys
from cryptography.fernet import Fernet
key, token, plain_hex = sys.argv[1:4]
f = Fernet(key)
print(f.decrypt(token).hex())
print(f.encrypt(bytes.fromhex(plain_hex)).decode())
print(Fernet.generate_key().decode())
`;

function pythonHasCryptography(): boolean {
  return spawnSync(PYTHON, ['-c', 'import cryptography'], { stdio: 'ignore' }).status === 0;
}

test('interoperates with Python cryptography.fernet', (t) => {
  if (!pythonHasCryptography()) {
    t.skip(`${PYTHON} cannot import cryptography (apt-get install -y python3-cryptography)`);
    return;
  }
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);
  const ours = Buffer.from('from node: pässwörd ✓\n', 'utf8');
  const theirs = Buffer.from('from python: ünïcode ✓', 'utf8');
  const args = ['-c', PYTHON_INTEROP, key, fernet.encrypt(ours), theirs.toString('hex')];
  const result = spawnSync(PYTHON, args, { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  const [decryptedHex, pythonToken, pythonKey] = result.stdout.trim().split('\n');
  assert.equal(decryptedHex, ours.toString('hex'));
  assert.deepEqual(fernet.decrypt(pythonToken), theirs);
  assert.doesNotThrow(() => new Fernet(pythonKey));
});
