import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { TunnelRegistry } from '../server/tunnel-registry.js';
import { startSshFrontDoor } from '../server/ssh/front-door.js';
import type { SshFrontDoor } from '../server/ssh/front-door.js';
import { startSwitchboard } from './support/openssh.js';
import type { SshProcess, Switchboard } from './support/openssh.js';
import { echoServer, randomBytes, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const MiB = 1024 * 1024;

describe('SSH front door with the real OpenSSH client', () => {
  let board: Switchboard;
  let dir: string;
  let door: SshFrontDoor;
  let echo: TestServer;
  let replier: TestServer;
  let listener: SshProcess;
  let listenKey: string;
  let initKey: string;
  const ssh: Switchboard['ssh'] = (...args) => board.ssh(...args);
  const resolves: Switchboard['resolves'] = (name, port) => board.resolves(name, port);

  before(async () => {
    board = await startSwitchboard({ listen_key: 'ed25519', init_key: 'ed25519' }, ({ listen_key: listen, init_key: init }) => [
      `access="listen",alias="gw1-alias" ${listen!.pub}`,
      `access="initiate",permitopen="gw1:22",permitopen="gw1:80",permitopen="nope:22",permitopen="gw1-alias:*" ${init!.pub}`,
      'garbage line',
    ]);
    ({ dir, door } = board);
    listenKey = board.keys.listen_key!.path;
    initKey = board.keys.init_key!.path;
    echo = await echoServer();
    replier = await requestReplyServer((request) => Buffer.concat([Buffer.from('reply to '), request]));
    listener = ssh(listenKey, 'gw1', ['-N', '-R', `22:localhost:${echo.port}`, '-R', `80:localhost:${replier.port}`]);
    await waitUntil(() => resolves('gw1', 22) && resolves('gw1', 80), 15_000, 'the listener to register');
  });

  after(async () => {
    await board?.close();
    await echo?.close();
    await replier?.close();
  });

  test('the host key was generated with mode 0600', async () => {
    const st = await stat(join(dir, 'host_key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.match(door.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  // 16 MiB, so that the front door's sockets stream (large reads), not just make quiet reads.
  test('-W gw1:22 carries 16 MiB both ways exactly (EOF after the data)', async () => {
    const payload = randomBytes(16 * MiB);
    const w = ssh(initKey, 'initiator', ['-W', 'gw1:22'], payload);
    assert.equal(await w.exited, 0, w.stderr());
    assert.equal(w.stdout().length, payload.length);
    assert.equal(sha256(w.stdout()), sha256(payload));
  });

  test('a half-closing request still gets its whole reply; aliases resolve too', async () => {
    const w = ssh(initKey, 'initiator', ['-W', 'gw1-alias:80'], Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    assert.equal(await w.exited, 0, w.stderr());
    assert.equal(w.stdout().toString(), 'reply to GET / HTTP/1.0\r\n\r\n');
  });

  test('an unknown name is refused with a message and the listener stays connected', async () => {
    const w = ssh(initKey, 'initiator', ['-W', 'nope:22'], Buffer.alloc(0));
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /open failed: connect failed: Unknown name "nope"/);
    assert.equal(listener.child.exitCode, null);
    assert.ok(resolves('gw1', 22));
  });

  test('an unknown port is refused with a message', async () => {
    const w = ssh(initKey, 'initiator', ['-W', 'gw1-alias:23'], Buffer.alloc(0));
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /open failed: connect failed: Unknown port 23 on "gw1-alias"/);
  });

  test('permitopen restricts destinations', async () => {
    const w = ssh(initKey, 'initiator', ['-W', 'gw1~0:22'], Buffer.alloc(0));
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /open failed: administratively prohibited: gw1~0:22 is not allowed by permitopen/);
  });

  test('a key without access="initiate" is refused', async () => {
    const w = ssh(listenKey, 'other', ['-W', 'gw1:22'], Buffer.alloc(0));
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /open failed: administratively prohibited: initiate permission required/);
    assert.equal(listener.child.exitCode, null);
  });

  test('a key without access="listen" cannot register a port', async () => {
    const r = ssh(initKey, 'gw9', ['-N', '-R', `22:localhost:${echo.port}`]);
    assert.equal(await r.exited, 255);
    assert.match(r.stderr(), /remote port forwarding failed for listen port 22/);
    assert.ok(!resolves('gw9', 22));
  });

  test('list shows the listener', async () => {
    const l = ssh(initKey, 'initiator', [], undefined, ['list', '--json']);
    assert.equal(await l.exited, 0, l.stderr());
    const rows = JSON.parse(l.stdout().toString()) as { name: string; port: number; aliases: string[] }[];
    assert.deepEqual(
      rows.map((r) => [r.name, r.port, r.aliases]),
      [
        ['gw1', 22, ['gw1-alias']],
        ['gw1', 80, ['gw1-alias']],
      ],
    );
  });

  test('help works; an unknown command gets a message and exit status 1; list needs initiate', async () => {
    const help = ssh(initKey, 'initiator', [], undefined, ['help']);
    assert.equal(await help.exited, 0, help.stderr());
    assert.match(help.stdout().toString(), /list --json/);
    const bogus = ssh(initKey, 'initiator', [], undefined, ['bogus']);
    assert.equal(await bogus.exited, 1);
    assert.match(bogus.stderr(), /Unknown command "bogus"/);
    const denied = ssh(listenKey, 'someone', [], undefined, ['list']);
    assert.equal(await denied.exited, 1);
    assert.match(denied.stderr(), /Permission denied: list needs access="initiate"/);
  });

  test('a connection that does not authenticate in time is dropped (even one that never speaks)', async () => {
    const quick = await startSshFrontDoor({
      port: 0,
      hostKeyPath: join(dir, 'host_key'),
      authorizedKeysPath: join(dir, 'authorized_keys'),
      registry: new TunnelRegistry(),
      logger: pino({ level: 'silent' }),
      authTimeoutMs: 300,
    });
    try {
      const socket = net.connect(quick.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.resume();
      const started = Date.now();
      await once(socket, 'close');
      assert.ok(Date.now() - started < 5_000);
    } finally {
      await quick.close();
    }
  });

  test('the listener leaving unregisters its names', async () => {
    await listener.kill();
    await waitUntil(() => !resolves('gw1', 22) && !resolves('gw1-alias', 80), 10_000, 'the names to go');
  });
});
