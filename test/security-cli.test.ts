import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Fernet } from '../common/fernet.js';

// The compiled CLI sits next to this test's compiled directory, whatever the cwd is.
const CLI = fileURLToPath(new URL('../common/security-cli.js', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Run {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.equal(run.status, 1, run.stderr);
  assert.equal(run.stdout, '');
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(run.stderr, /^\s+at /m);
}

test('generate-key prints a valid key', () => {
  const run = cli('generate-key');
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^[A-Za-z0-9_-]{43}=\n$/);
  assert.doesNotThrow(() => new Fernet(run.stdout.trim()));
});

test('encrypt then decrypt round-trips, and interoperates with the library', () => {
  const key = cli('generate-key').stdout.trim();
  const encrypted = cli('encrypt', key, 'hunter2 ✓');
  assert.equal(encrypted.status, 0, encrypted.stderr);
  const token = encrypted.stdout.trim();
  assert.match(token, /^gAAAAA/);
  assert.equal(new Fernet(key).decryptString(token), 'hunter2 ✓');
  const decrypted = cli('decrypt', key, token);
  assert.equal(decrypted.status, 0, decrypted.stderr);
  assert.equal(decrypted.stdout, 'hunter2 ✓\n');
});

test('a key that starts with a dash is a key, not an option', () => {
  // A first byte of 0xf8 makes the url-safe base64 text start with '-'.
  const key = Buffer.concat([Buffer.from([0xf8]), Buffer.alloc(31, 7)]).toString('base64url') + '=';
  assert.match(key, /^-/);
  const encrypted = cli('encrypt', key, '-data');
  assert.equal(encrypted.status, 0, encrypted.stderr);
  assert.equal(cli('decrypt', key, encrypted.stdout.trim()).stdout, '-data\n');
});

test('data starting with a dash can be given after --', () => {
  const key = Fernet.generateKey();
  const token = cli('encrypt', key, '--', '-secret').stdout.trim();
  assert.equal(new Fernet(key).decryptString(token), '-secret');
});

test('a bad token is one line on stderr and exit code 1', () => {
  const key = Fernet.generateKey();
  assertOneLineError(cli('decrypt', key, 'gAAAAAnot-a-real-token'), /^netunnel-security: invalid token: /);
  const otherKeysToken = new Fernet(Fernet.generateKey()).encrypt('x');
  assertOneLineError(cli('decrypt', key, otherKeysToken), /^netunnel-security: invalid token: /);
});

test('a bad key is one line on stderr, exit code 1, pointing at generate-key', () => {
  assertOneLineError(cli('encrypt', 'my passphrase', 'data'), /^netunnel-security: invalid Fernet key.*generate-key/);
  assertOneLineError(cli('decrypt', 'short', 'gAAAAA'), /^netunnel-security: invalid Fernet key.*generate-key/);
});

test('no arguments prints usage and exits 2', () => {
  const run = cli();
  assert.equal(run.status, 2);
  assert.match(run.stderr, /Usage: netunnel-security/);
  assert.match(run.stderr, /generate-key/);
});

test('--help prints usage and exits 0', () => {
  const run = cli('--help');
  assert.equal(run.status, 0);
  assert.match(run.stdout, /Usage: netunnel-security/);
});

test('usage errors exit 2 without a stack trace', () => {
  for (const args of [['frobnicate'], ['encrypt', 'only-key'], ['generate-key', 'extra'], ['--bogus']]) {
    const run = cli(...args);
    assert.equal(run.status, 2, args.join(' '));
    assert.match(run.stderr, /^netunnel-security: /);
    assert.doesNotMatch(run.stderr, /^\s+at /m);
  }
});
