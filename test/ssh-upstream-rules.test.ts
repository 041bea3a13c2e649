import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateEd25519Key } from '../server/ssh/ed25519-key.js';
import { checkHostKey, knownHostKeyAlgorithms } from '../server/ssh/known-hosts.js';
import { compileLoginPattern, matchUpstream } from '../server/ssh/upstream-rules.js';
import type { UpstreamRule } from '../server/ssh/upstream-rules.js';
import { parseAuthorizedKeys } from '../server/ssh/authorized-keys.js';
import { withTempDir } from './support/temp-dir.js';

const files = { privateKeyPath: '/k', knownHostsPath: '/kh', trustOnFirstUse: false, agentForwarding: false };
const rules: UpstreamRule[] = [
  { ...files, login: 'backup', host: '10.0.0.7', port: 2222, user: 'restic' },
  { ...files, loginPattern: compileLoginPattern('^(?<user>[^+]+)\\+(?<host>.+)$', 't'), host: '$<host>', port: 22 },
  { ...files, loginPattern: compileLoginPattern('^web-(?<n>\\d+)$', 't'), host: 'web$<n>.lan', port: 22, user: 'deploy' },
];

test('upstream rules: exact first match, named captures, defaults', () => {
  assert.deepEqual(matchUpstream(rules, 'backup'), { ...files, host: '10.0.0.7', port: 2222, user: 'restic' });
  assert.deepEqual(matchUpstream(rules, 'alice+gw1'), { ...files, host: 'gw1', port: 22, user: 'alice' });
  assert.deepEqual(matchUpstream(rules, 'web-3'), { ...files, host: 'web3.lan', port: 22, user: 'deploy' });
  assert.throws(() => matchUpstream(rules, 'carol'), { code: 'NOT_FOUND', message: 'no upstream rule matches the user name "carol"' });
  assert.throws(() => compileLoginPattern('(', 'config key ssh.upstreams[0]'), { code: 'CONFIG_INVALID' });
});

test('authorized_keys knows access="proxy"', () => {
  const pub = generateEd25519Key().public;
  const { keys, problems } = parseAuthorizedKeys(`access="proxy",no-agent-forwarding ${pub}\naccess="root" ${pub}\n`);
  assert.deepEqual([...keys[0]!.access], ['proxy']);
  assert.equal(keys[0]!.noAgentForwarding, true);
  assert.match(problems[0]!.message, /unknown access level "root" \(use listen, initiate or proxy\)/);
});

test('known_hosts: plain, [host]:port, hashed and glob names; mismatch; trust on first use', async () => {
  await withTempDir(async (dir) => {
    const key = (pub: string) => Buffer.from(pub.split(' ')[1]!, 'base64');
    const [a, b] = [generateEd25519Key().public, generateEd25519Key().public];
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[gw2]:2222').digest('base64')}`;
    const path = join(dir, 'known_hosts');
    await writeFile(path, `# comment\ngw1,other ${a}\n${hashed} ${a}\n*.lan ${b}\n`);
    assert.deepEqual(await checkHostKey(path, 'gw1', 22, key(a), false), { ok: true, learned: false });
    assert.deepEqual(await checkHostKey(path, 'gw2', 2222, key(a), false), { ok: true, learned: false });
    assert.deepEqual(await checkHostKey(path, 'db.lan', 22, key(b), false), { ok: true, learned: false });
    const changed = await checkHostKey(path, 'gw1', 22, key(b), false);
    assert.equal(changed.ok, false);
    assert.match((changed as { reason: string }).reason, /does not match .* line 2/);
    assert.equal((await checkHostKey(path, 'gw3', 22, key(a), false)).ok, false);
    assert.deepEqual(await checkHostKey(path, 'gw3', 2200, key(a), true), { ok: true, learned: true });
    assert.match(await readFile(path, 'utf8'), /\n\[gw3\]:2200 ssh-ed25519 \S+\n$/);
    assert.deepEqual(await checkHostKey(path, 'gw3', 2200, key(a), false), { ok: true, learned: false });
  });
});

test('known_hosts: a hashed name matches whatever its case; a host known by other key types only is not relearned', async () => {
  await withTempDir(async (dir) => {
    const a = generateEd25519Key().public;
    const salt = randomBytes(20);
    // ssh-keygen -H hashes the name in lower case, as OpenSSH looks it up.
    const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('gw4').digest('base64')}`;
    const path = join(dir, 'known_hosts');
    const text = `${hashed} ${a}\ngw5 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=\nrsa.lan ssh-rsa AAAAB3NzaC1yc2E=\n`;
    await writeFile(path, text);
    const key = Buffer.from(a.split(' ')[1]!, 'base64');
    assert.deepEqual(await checkHostKey(path, 'GW4', 22, key, false), { ok: true, learned: false });
    const other = await checkHostKey(path, 'gw5', 22, key, true);
    assert.equal(other.ok, false);
    assert.match((other as { reason: string }).reason, /^host key of gw5 \(ssh-ed25519 SHA256:\S+\) is not in .*, which has only ecdsa-sha2-nistp256 keys for it$/);
    assert.equal(await readFile(path, 'utf8'), text, 'nothing learned');
    // So those are asked for first, as OpenSSH does.
    assert.deepEqual(await knownHostKeyAlgorithms(path, 'gw5', 22), ['ecdsa-sha2-nistp256']);
    assert.deepEqual(await knownHostKeyAlgorithms(path, 'rsa.lan', 22), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.deepEqual(await knownHostKeyAlgorithms(path, 'nobody', 22), []);
  });
});
