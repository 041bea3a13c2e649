import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { withTempDir } from './support/temp-dir.js';
import { fromAllows, notExpired, parseAuthorizedKeys, permitListenAllows, permitOpenAllows } from '../server/ssh/authorized-keys.js';

function keygen(dir: string, name: string, type: string, bits?: string): { pub: string; fingerprint: string } {
  const file = join(dir, name);
  execFileSync('/usr/bin/ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', bits] : []), '-N', '', '-C', name, '-f', file]);
  const fingerprint = execFileSync('/usr/bin/ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`]).toString().split(' ')[1]!;
  return { pub: readFileSync(`${file}.pub`, 'utf8').trim(), fingerprint };
}

describe('authorized_keys parsing', () => {
  test('ed25519, ecdsa and rsa keys with options; fingerprints match ssh-keygen', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const ec = keygen(dir, 'ec', 'ecdsa', '521');
      const rsa = keygen(dir, 'rsa', 'rsa', '2048');
      const text = [
        '# comment',
        '',
        `ACCESS="listen",Hostname="gw1",alias="a1",alias="a2" ${ed.pub}`,
        `access="initiate",access="listen",permitopen="gw1:22",permitopen="web:*",no-port-forwarding ${ec.pub}`,
        `from="10.0.0.0/8,!10.1.*",from="10.*" ${rsa.pub}`,
      ].join('\n');
      const { keys, problems } = parseAuthorizedKeys(text);
      assert.deepEqual(problems, []);
      assert.equal(keys.length, 3);
      const [k1, k2, k3] = keys as [typeof keys[0], typeof keys[0], typeof keys[0]];
      assert.equal(k1.type, 'ssh-ed25519');
      assert.equal(k1.fingerprint, ed.fingerprint);
      assert.equal(k1.line, 3);
      assert.deepEqual([...k1.access], ['listen']);
      assert.equal(k1.hostname, 'gw1');
      assert.deepEqual(k1.aliases, ['a1', 'a2']);
      assert.equal(k1.comment, 'ed');
      assert.equal(k2.type, 'ecdsa-sha2-nistp521');
      assert.equal(k2.fingerprint, ec.fingerprint);
      assert.deepEqual([...k2.access].sort(), ['initiate', 'listen']);
      assert.equal(k2.noPortForwarding, true);
      assert.equal(permitOpenAllows(k2, 'gw1', 22), true);
      assert.equal(permitOpenAllows(k2, 'gw1', 80), false);
      assert.equal(permitOpenAllows(k2, 'gw1~1', 22), false);
      assert.equal(permitOpenAllows(k2, 'web', 8080), true);
      assert.equal(permitOpenAllows(k1, 'anything', 1), true);
      assert.equal(k3.type, 'ssh-rsa');
      assert.equal(k3.fingerprint, rsa.fingerprint);
      assert.equal(fromAllows(k3, '10.2.3.4'), true);
      assert.equal(fromAllows(k3, '::ffff:10.2.3.4'), true);
      assert.equal(fromAllows(k3, '10.1.3.4'), false, 'negation denies');
      assert.equal(fromAllows(k3, '192.168.1.1'), false);
      assert.equal(fromAllows(k1, '192.168.1.1'), true, 'no from= allows everyone');
    }));

  test('every from= must match; ? globs', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const { keys } = parseAuthorizedKeys(`from="127.0.0.?",from="127.0.0.0/30" ${ed.pub}`);
      assert.equal(fromAllows(keys[0]!, '127.0.0.1'), true);
      assert.equal(fromAllows(keys[0]!, '127.0.0.5'), false);
      assert.equal(fromAllows(keys[0]!, '127.0.0.10'), false);
    }));

  test('from= compares addresses and networks as numbers within their family, as sshd does', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const allows = (patterns: string, ip: string) => fromAllows(parseAuthorizedKeys(`from="${patterns}" ${ed.pub}`).keys[0]!, ip);
      // [patterns, client, what sshd 9.2 decides]
      const cases: Array<[string, string, boolean]> = [
        ['0:0:0:0:0:0:0:1', '::1', true],
        ['0::1', '::1', true],
        ['!0:0:0:0:0:0:0:1,*', '::1', false],
        ['::/0', '127.0.0.1', false],
        ['!::/0,*', '127.0.0.1', true],
        ['::/0', '::ffff:127.0.0.1', false],
        ['0.0.0.0/0', '::1', false],
        ['2001:db8::/32', '2001:db8:ffff::7', true],
        ['2001:db8::/32', '2001:db9::7', false],
        // A mapped client is the IPv4 client it is (sshd normalises it), so an IPv6 network misses it.
        ['::ffff:10.0.0.0/104', '::ffff:10.0.0.1', false],
        ['1:2:3:4:5:6:10.0.0.1', '1:2:3:4:5:6:a00:1', true],
        ['10.0.0.0/8', '10.255.0.1', true],
        ['127.0.0.1', '127.0.0.1', true],
        ['::1', '::1', true],
        ['*:*', '::1', true],
      ];
      for (const [patterns, ip, expected] of cases) assert.equal(allows(patterns, ip), expected, `from="${patterns}" for ${ip}`);
      // sshd refuses a network with address bits past its prefix ("inconsistent mask length").
      const { keys, problems } = parseAuthorizedKeys([`from="::1/64" ${ed.pub}`, `from="127.0.0.1/8" ${ed.pub}`, `from="10.0.0.0/33" ${ed.pub}`].join('\n'));
      assert.deepEqual(keys, []);
      assert.match(problems[0]!.message, /from= pattern "::1\/64" has address bits set past \/64/);
      assert.match(problems[1]!.message, /from= pattern "127.0.0.1\/8" has address bits set past \/8/);
      assert.match(problems[2]!.message, /not a valid CIDR/);
    }));

  test('permitopen="*:port" is any host on that port, and hostname= may not read as an address', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const { keys, problems } = parseAuthorizedKeys([`permitopen="*:7" ${ed.pub}`, `hostname="127.0.0.1" ${ed.pub}`, `alias="localhost" ${ed.pub}`].join('\n'));
      assert.deepEqual([permitOpenAllows(keys[0]!, 'gw1', 7), permitOpenAllows(keys[0]!, 'web', 7), permitOpenAllows(keys[0]!, 'gw1', 8)], [true, true, false]);
      assert.deepEqual(problems.map((p) => p.line), [2, 3]);
      assert.match(problems[0]!.message, /^hostname="127.0.0.1" is not a valid name: it reads as an address; pick a name that does not$/);
    }));

  test('restrict, permitlisten and expiry-time mean what they mean to sshd; certificate options skip the line', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const text = [
        `restrict,access="initiate" ${ed.pub}`,
        `port-forwarding,restrict ${ed.pub}`,
        `permitlisten="22",permitlisten="localhost:8080" ${ed.pub}`,
        `permitlisten="*" ${ed.pub}`,
        `expiry-time="20200101" ${ed.pub}`,
        `expiry-time="29991231235959Z" ${ed.pub}`,
        `cert-authority ${ed.pub}`,
        `principals="ops" ${ed.pub}`,
        `expiry-time="20260231" ${ed.pub}`,
        `permitlisten="ssh" ${ed.pub}`,
      ].join('\n');
      const { keys, problems } = parseAuthorizedKeys(text);
      assert.deepEqual(keys.map((k) => k.line), [1, 2, 3, 4, 5, 6]);
      const [restricted, reenabled, listen, anyPort, expired, future] = keys as [typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0], typeof keys[0]];
      assert.deepEqual([restricted.noPortForwarding, restricted.noAgentForwarding], [true, true]);
      assert.deepEqual([reenabled.noPortForwarding, reenabled.noAgentForwarding], [false, true]);
      assert.deepEqual([22, 8080, 23, 0].map((port) => permitListenAllows(listen, port)), [true, true, false, false]);
      assert.deepEqual([22, 0].map((port) => permitListenAllows(anyPort, port)), [true, true]);
      assert.equal(permitListenAllows(restricted, 0), true, 'no permitlisten: any port');
      assert.equal(notExpired(expired), false);
      assert.equal(notExpired(future), true);
      assert.equal(future.expiresAt?.toISOString(), '2999-12-31T23:59:59.000Z');
      assert.equal(notExpired(listen), true, 'no expiry-time: never expires');
      assert.deepEqual(problems.map((p) => p.line), [7, 8, 9, 10]);
      assert.match(problems[0]!.message, /cert-authority is for certificates, which this server does not accept/);
      assert.match(problems[2]!.message, /expiry-time="20260231" is not a date/);
      assert.match(problems[3]!.message, /permitlisten="ssh" must be \[host:\]port/);
    }));

  test('malformed lines are reported with their line numbers and skipped', () =>
    withTempDir(async (dir) => {
      const ed = keygen(dir, 'ed', 'ed25519');
      const text = [
        `access="root" ${ed.pub}`,
        `access="listen ${ed.pub}`,
        'ssh-ed25519 AAAAnotbase64',
        `from="300.0.0.0/8" ${ed.pub}`,
        `hostname="bad name" ${ed.pub}`,
        'sk-ssh-ed25519@openssh.com AAAA x',
        `access="listen" ${ed.pub}`,
      ].join('\n');
      const { keys, problems } = parseAuthorizedKeys(text);
      assert.deepEqual(keys.map((k) => k.line), [7]);
      assert.deepEqual(problems.map((p) => p.line), [1, 2, 3, 4, 5, 6]);
      assert.match(problems[0]!.message, /unknown access level "root"/);
      assert.match(problems[1]!.message, /unterminated/);
      assert.match(problems[5]!.message, /unsupported key type/);
    }));
});
