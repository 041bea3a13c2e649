import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import ssh2 from '../server/ssh/ssh2.js';
import { makeKey, runSsh, startExecServer, startSwitchboard } from './support/openssh.js';
import type { SshProcess, Switchboard } from './support/openssh.js';
import { echoServer, exchange, listen, randomBytes, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const MiB = 1024 * 1024;

describe('SSH front door: data, names, keys and lifecycle (real OpenSSH)', () => {
  let board: Switchboard;
  let dir: string;
  let echo: TestServer;
  let replyA: TestServer;
  let replyB: TestServer;
  let holder: TestServer;
  let listenKey: string;
  let initKey: string;
  let fromKey: string;
  let twoLinesKey: string;
  const servers: TestServer[] = [];

  const ssh = (key: string, user: string, args: string[], input?: Buffer): SshProcess => board.ssh(key, user, args, input);
  const resolves: Switchboard['resolves'] = (name, port) => board.resolves(name, port);
  /** Starts `ssh -N -R port:localhost:target user@...` and waits until `registeredAs` (default: user) resolves. */
  const listener = async (user: string, port: number, target: number, registeredAs = user): Promise<SshProcess> => {
    const p = ssh(listenKey, user, ['-N', '-R', `${port}:localhost:${target}`]);
    await waitUntil(() => resolves(registeredAs, port) || p.child.exitCode !== null, 15_000, `listener ${user} to register`);
    assert.equal(p.child.exitCode, null, p.stderr());
    return p;
  };

  before(async () => {
    board = await startSwitchboard({ listen_key: 'ed25519', init_key: 'ed25519', from_key: 'ecdsa', two_lines_key: 'ed25519', options_key: 'ed25519', restrict_key: 'ed25519', expired_key: 'ed25519' }, (keys) => [
      `access="listen" ${keys.listen_key!.pub}`,
      `access="initiate" ${keys.init_key!.pub}`,
      `from="10.0.0.0/8",access="initiate" ${keys.from_key!.pub}`,
      `from="10.0.0.0/8",access="initiate" ${keys.two_lines_key!.pub}`,
      `access="listen" ${keys.two_lines_key!.pub}`,
      `permitlisten="22",access="listen" ${keys.options_key!.pub}`,
      `restrict,access="listen",access="initiate" ${keys.restrict_key!.pub}`,
      `expiry-time="20200101",access="initiate" ${keys.expired_key!.pub}`,
    ]);
    ({ dir } = board);
    listenKey = board.keys.listen_key!.path;
    initKey = board.keys.init_key!.path;
    fromKey = board.keys.from_key!.path;
    twoLinesKey = board.keys.two_lines_key!.path;
    echo = await echoServer();
    replyA = await requestReplyServer((r) => Buffer.concat([Buffer.from('A:'), r]));
    replyB = await requestReplyServer((r) => Buffer.concat([Buffer.from('B:'), r]));
    holder = await listen(() => {});
    servers.push(echo, replyA, replyB, holder);
  });

  after(async () => {
    await board?.close();
    await Promise.all(servers.map((s) => s.close()));
  });

  test('-W carries 32 MiB each way exactly', async () => {
    const l = await listener('big', 22, echo.port);
    try {
      const payload = randomBytes(32 * MiB);
      const w = ssh(initKey, 'initiator', ['-W', 'big:22'], payload);
      assert.equal(await w.exited, 0, w.stderr());
      assert.equal(w.stdout().length, payload.length);
      assert.equal(sha256(w.stdout()), sha256(payload));
    } finally {
      await l.kill();
    }
  });

  test('-L carries a request/reply through a local port', async () => {
    const l = await listener('web', 80, replyA.port);
    const local = await listen(() => {});
    const localPort = local.port;
    await local.close();
    const fwd = ssh(initKey, 'initiator', ['-N', '-o', 'LogLevel=DEBUG1', '-L', `127.0.0.1:${localPort}:web:80`]);
    try {
      await waitUntil(() => /Local forwarding listening on 127\.0\.0\.1 port/.test(fwd.stderr()), 15_000, 'the -L port');
      const reply = await exchange(localPort, Buffer.from('hello'));
      assert.equal(reply.toString(), 'A:hello');
    } finally {
      await fwd.kill();
      await l.kill();
    }
  });

  test('-D (SOCKS with names resolved by the server) reaches a listener by name', async () => {
    const http = createServer((_req, res) => res.end('hello over socks'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const l = await listener('socksweb', 80, (http.address() as AddressInfo).port);
    const local = await listen(() => {});
    const localPort = local.port;
    await local.close();
    const socks = ssh(initKey, 'initiator', ['-N', '-o', 'LogLevel=DEBUG1', '-D', `127.0.0.1:${localPort}`]);
    try {
      await waitUntil(() => /Local forwarding listening on 127\.0\.0\.1 port/.test(socks.stderr()), 15_000, 'the -D port');
      const curl = spawn('/usr/bin/curl', ['-sS', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${localPort}`, 'http://socksweb:80/'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      curl.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const [code] = (await once(curl, 'close')) as [number];
      assert.equal(code, 0);
      assert.equal(out, 'hello over socks');
    } finally {
      await socks.kill();
      await l.kill();
      http.closeAllConnections();
      http.close();
    }
  });

  test('newest listener of a name wins; name~1 reaches the older one; the older takes over when the newer leaves', async () => {
    const a = await listener('dup', 22, replyA.port);
    const b = await listener('dup', 22, replyB.port, 'dup~1');
    try {
      const ask = async (name: string) => {
        const w = ssh(initKey, 'initiator', ['-W', `${name}:22`], Buffer.from('x'));
        assert.equal(await w.exited, 0, w.stderr());
        return w.stdout().toString();
      };
      assert.equal(await ask('dup'), 'B:x');
      assert.equal(await ask('dup~1'), 'A:x');
      await b.kill();
      await waitUntil(() => !resolves('dup~1', 22), 10_000, 'the newer listener to go');
      assert.equal(await ask('dup'), 'A:x');
    } finally {
      await a.kill();
      await b.kill();
    }
  });

  test('the listener leaving mid-circuit ends the initiator', async () => {
    const l = await listener('gone', 22, holder.port);
    const w = ssh(initKey, 'initiator', ['-W', 'gone:22']);
    try {
      await waitUntil(() => holder.sockets.size > 0, 15_000, 'the circuit to reach the target');
      await l.kill();
      const code = await Promise.race([w.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
      assert.notEqual(code, 'still running');
    } finally {
      await w.kill();
    }
  });

  test("the listener's local refusal is relayed to the initiator", async () => {
    const closed = await listen(() => {});
    const closedPort = closed.port;
    await closed.close();
    const l = await listener('down', 22, closedPort);
    try {
      const w = ssh(initKey, 'initiator', ['-W', 'down:22'], Buffer.alloc(0));
      assert.equal(await w.exited, 255);
      assert.match(w.stderr(), /open failed: connect failed: the listener refused: Connection refused/);
      assert.equal(l.child.exitCode, null);
    } finally {
      await l.kill();
    }
  });

  test('the initiator leaving mid-circuit ends the target socket', async () => {
    // A target that closes once its peer's EOF arrives (a half-open target would keep its socket).
    const target = await listen((socket) => socket.once('end', () => socket.end()));
    servers.push(target);
    const l = await listener('held', 22, target.port);
    const w = ssh(initKey, 'initiator', ['-W', 'held:22']);
    try {
      await waitUntil(() => target.sockets.size > 0, 15_000, 'the circuit to reach the target');
      await w.kill();
      await waitUntil(() => target.sockets.size === 0, 10_000, 'the target socket to close');
    } finally {
      await l.kill();
    }
  });

  test('from= that does not match refuses the key', async () => {
    const w = ssh(fromKey, 'initiator', ['-W', 'x:22'], Buffer.alloc(0));
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /Permission denied \(publickey\)/);
  });

  test("of two lines with the same key, the first whose from= admits the client is used, and only its options", async () => {
    const l = ssh(twoLinesKey, 'twolines', ['-N', '-R', `22:localhost:${replyA.port}`]);
    try {
      await waitUntil(() => resolves('twolines', 22) || l.child.exitCode !== null, 15_000, 'the second line to admit the listener');
      assert.equal(l.child.exitCode, null, l.stderr());
      const w = ssh(twoLinesKey, 'initiator', ['-W', 'twolines:22'], Buffer.alloc(0));
      assert.equal(await w.exited, 255);
      assert.match(w.stderr(), /administratively prohibited: initiate permission required/);
    } finally {
      await l.kill();
    }
  });

  test('restrict, permitlisten and expiry-time are honoured as sshd honours them', async () => {
    const optionsKey = board.keys.options_key!.path;
    // permitlisten="22": port 22 is taken, 23 and -R 0 (which needs permitlisten="*") are refused.
    const l = ssh(optionsKey, 'restricted', ['-N', '-R', `22:localhost:${replyA.port}`]);
    try {
      await waitUntil(() => resolves('restricted', 22) || l.child.exitCode !== null, 15_000, 'port 22 to register');
      assert.equal(l.child.exitCode, null, l.stderr());
      for (const port of ['23', '0']) {
        const r = ssh(optionsKey, 'restricted', ['-N', '-R', `${port}:localhost:${replyA.port}`]);
        assert.equal(await r.exited, 255);
        assert.match(r.stderr(), new RegExp(`remote port forwarding failed for listen port ${port}`));
      }
      // restrict turns port forwarding off, both ways.
      const restrictKey = board.keys.restrict_key!.path;
      const w = ssh(restrictKey, 'initiator', ['-W', 'restricted:22'], Buffer.alloc(0));
      assert.equal(await w.exited, 255);
      assert.match(w.stderr(), /administratively prohibited: port forwarding is disabled for this key/);
      const r = ssh(restrictKey, 'restrictedtoo', ['-N', '-R', `22:localhost:${replyA.port}`]);
      assert.equal(await r.exited, 255);
      assert.match(r.stderr(), /remote port forwarding failed for listen port 22/);
    } finally {
      await l.kill();
    }
    const expired = ssh(board.keys.expired_key!.path, 'initiator', ['-W', 'x:22'], Buffer.alloc(0));
    assert.equal(await expired.exited, 255);
    assert.match(expired.stderr(), /Permission denied \(publickey\)/);
    assert.match(board.logs(), /SSH key refused: its expiry-time has passed/);
  });

  test('names match whatever their case, as host names do', async () => {
    const l = await listener('Office', 22, replyA.port);
    try {
      for (const name of ['office', 'OFFICE']) {
        const w = ssh(initKey, 'initiator', ['-W', `${name}:22`], Buffer.from(name));
        assert.equal(await w.exited, 0, w.stderr());
        assert.equal(w.stdout().toString(), `A:${name}`);
      }
    } finally {
      await l.kill();
    }
  });

  test('a listener that leaves while a circuit is opening is reported gone, not refusing', async () => {
    const privateKey = await readFile(listenKey);
    const leaving = new ssh2.Client();
    const asked = new Promise<void>((resolve) => leaving.on('tcp connection', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      leaving.once('error', reject);
      leaving.once('ready', () => leaving.forwardIn('localhost', 22, (err) => (err ? reject(err) : resolve())));
      leaving.connect({ host: '127.0.0.1', port: board.door.port, username: 'leaving', privateKey });
    });
    const w = ssh(initKey, 'initiator', ['-W', 'leaving:22'], Buffer.alloc(0));
    // The open reached the listener, which neither accepts nor refuses it: it leaves.
    await asked;
    leaving.destroy();
    assert.equal(await w.exited, 255);
    assert.match(w.stderr(), /open failed: connect failed: the listener's SSH connection closed/);
  });

  test('a shell session (a listener without -N) ends at the end of its input', async () => {
    const shell = ssh(listenKey, 'shelly', ['-T'], Buffer.alloc(0));
    assert.equal(await shell.exited, 0, shell.stderr());
    assert.match(shell.stdout().toString(), /no shell here/);
  });

  test('authorized_keys edited while the server runs takes effect; a bad line is skipped', async () => {
    const fresh = makeKey(dir, 'fresh_key');
    const l = await listener('edit', 22, replyA.port);
    try {
      const before = ssh(fresh.path, 'initiator', ['-W', 'edit:22'], Buffer.from('y'));
      assert.equal(await before.exited, 255);
      await appendFile(join(dir, 'authorized_keys'), `this line is broken\naccess="initiate" ${fresh.pub}\n`);
      const w = ssh(fresh.path, 'initiator', ['-W', 'edit:22'], Buffer.from('y'));
      assert.equal(await w.exited, 0, w.stderr());
      assert.equal(w.stdout().toString(), 'A:y');
    } finally {
      await l.kill();
    }
  });

  test('a duplicate port on one connection is refused', async () => {
    const dupPort = ssh(listenKey, 'twice', ['-N', '-R', `22:localhost:${echo.port}`, '-R', `22:127.0.0.1:${echo.port}`]);
    assert.equal(await dupPort.exited, 255);
    assert.match(dupPort.stderr(), /remote port forwarding failed for listen port 22/);
  });

  test('-R 0 gets a virtual port allocated and reported (RFC 4254 §7.1), reachable by name; a second listener of the name gets another', async () => {
    const allocated = async (target: number) => {
      const zero = ssh(listenKey, 'zero', ['-N', '-R', `0:localhost:${target}`]);
      await waitUntil(() => /Allocated port \d+/.test(zero.stderr()) || zero.child.exitCode !== null, 15_000, 'the allocated port');
      return { zero, port: Number(/Allocated port (\d+) for remote forward to localhost:/.exec(zero.stderr())?.[1]) };
    };
    const first = await allocated(replyA.port);
    const second = await allocated(replyB.port);
    try {
      assert.ok(first.port >= 49152 && first.port <= 65535, first.zero.stderr());
      assert.ok(second.port >= 49152 && second.port <= 65535, second.zero.stderr());
      // With the same port, the older listener's reported port would lead to the newer one.
      assert.notEqual(first.port, second.port);
      for (const [target, reply] of [[`zero:${second.port}`, 'B:dyn'], [`zero~1:${first.port}`, 'A:dyn']] as const) {
        const w = ssh(initKey, 'initiator', ['-W', target], Buffer.from('dyn'));
        assert.equal(await w.exited, 0, w.stderr());
        assert.equal(w.stdout().toString(), reply);
      }
      const shadowed = ssh(initKey, 'initiator', ['-W', `zero:${first.port}`], Buffer.alloc(0));
      assert.equal(await shadowed.exited, 255);
      assert.match(shadowed.stderr(), new RegExp(`Unknown port ${first.port} on "zero"`));
    } finally {
      await first.zero.kill();
      await second.zero.kill();
    }
  });

  test('ssh -J through the switchboard reaches an SSH server behind a listener', async () => {
    const target = await startExecServer();
    // OpenSSH lowercases the host it jumps to: the mixed-case name must still be found.
    const gw = await listener('JumpGW', 22, target.port);
    try {
      const config = join(dir, 'ssh_config_jump');
      const hosts = [
        'Host sb',
        '  HostName 127.0.0.1',
        `  Port ${board.door.port}`,
        '  User initiator',
        `  IdentityFile ${initKey}`,
        'Host jumpgw',
        '  User root',
        `  IdentityFile ${initKey}`,
      ];
      await writeFile(config, `${await readFile(board.config, 'utf8')}${hosts.join('\n')}\n`);
      const jump = runSsh(dir, config, ['-J', 'sb', 'jumpgw', 'echo', 'through the door']);
      assert.equal(await jump.exited, 0, jump.stderr());
      assert.equal(jump.stdout().toString(), 'ran: echo through the door\n');
    } finally {
      await gw.kill();
      await target.close();
    }
  });
});

describe('SSH front door: clients that stop answering (real OpenSSH, stopped with SIGSTOP)', () => {
  /** A listener `user` registered on port 22, then frozen; `thaw` lets it go on (and be killed). */
  const frozenListener = async (board: Switchboard, target: number, user: string) => {
    const p = board.ssh(board.keys.listen_key!.path, user, ['-N', '-R', `22:localhost:${target}`]);
    await waitUntil(() => board.resolves(user, 22) || p.child.exitCode !== null, 15_000, `listener ${user} to register`);
    assert.equal(p.child.exitCode, null, p.stderr());
    p.child.kill('SIGSTOP');
    return { thaw: () => p.child.kill('SIGCONT') };
  };
  const listenOnly = (keys: Switchboard['keys']) => [`access="listen" ${keys.listen_key!.pub}`];

  test('unanswered keepalives drop the client, and its ports with it', async () => {
    const board = await startSwitchboard({ listen_key: 'ed25519' }, listenOnly, { keepalive: { intervalMs: 200, countMax: 2 } });
    const target = await echoServer();
    const frozen = await frozenListener(board, target.port, 'icecube');
    try {
      await waitUntil(() => !board.resolves('icecube', 22), 15_000, 'the frozen listener to be dropped');
      assert.match(board.logs(), /icecube .* stopped answering keepalives/);
      await waitUntil(() => board.door.connectionCount === 0, 10_000, 'its connection to close');
    } finally {
      frozen.thaw();
      await board.close();
      await target.close();
    }
  });

  test('closing the door does not wait for a frozen client', async () => {
    const board = await startSwitchboard({ listen_key: 'ed25519' }, listenOnly);
    const target = await echoServer();
    const frozen = await frozenListener(board, target.port, 'glacier');
    try {
      const closed = await Promise.race([board.door.close().then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('still open'), 15_000))]);
      assert.equal(closed, 'closed');
      await waitUntil(() => !board.resolves('glacier', 22), 5_000, 'its port to go');
    } finally {
      frozen.thaw();
      await board.close();
      await target.close();
    }
  });
});
