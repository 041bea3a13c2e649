import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';
import { Traffic } from '../common/traffic.js';
import { Destinations } from '../server/destinations.js';
import { compileLoginPattern } from '../server/ssh/upstream-rules.js';
import type { UpstreamRule } from '../server/ssh/upstream-rules.js';
import { makeKey, runSsh, startSwitchboard, writeSshConfig } from './support/openssh.js';
import type { SshProcess, Switchboard } from './support/openssh.js';
import { SERVER_BIN, spawnNode, startServerProcess, trackChild } from './support/processes.js';
import { freePort, randomBytes, sha256, waitUntil } from './support/sockets.js';
import { startUpstreamSshd } from './support/upstream-sshd.js';
import type { UpstreamSshd } from './support/upstream-sshd.js';

const SFTP = '/usr/bin/sftp';
const SSH_AGENT = '/usr/bin/ssh-agent';
const SSH_ADD = '/usr/bin/ssh-add';

/** The reverse proxy by user name: OpenSSH -> front door (alice+gw1) -> ssh2 "sshd" behind listener gw1. */
describe('the SSH reverse proxy by user name', () => {
  let sb: Switchboard;
  let upstream: UpstreamSshd;
  let listener: SshProcess;
  let downPort: number;
  const traffic = new Traffic();
  const MAX_CIRCUITS = 3;

  before(async () => {
    // The rules need files in the switchboard's folder, which exists only once it starts:
    // they are filled in below, before any login, through this array.
    const rules: UpstreamRule[] = [];
    sb = await startSwitchboard(
      { gw: 'ed25519', alice: 'ed25519', listenonly: 'ed25519', limited: 'ed25519' },
      (keys) => [
        `access="listen" ${keys.gw!.pub}`,
        `access="proxy" ${keys.alice!.pub}`,
        `access="listen" ${keys.listenonly!.pub}`,
        `access="proxy",permitopen="gw2:22" ${keys.limited!.pub}`,
      ],
      // The door's registry exists only once it starts; logins come after that.
      { upstreams: rules, openTimeoutMs: 10_000, maxCircuitsPerKey: MAX_CIRCUITS, traffic, destinations: { open: (host, port, originator) => new Destinations(sb.registry, () => ({ '127.0.0.1': '*' })).open(host, port, originator) } },
    );
    const dir = sb.dir;
    const upstreamKey = makeKey(dir, 'upstream_key');
    const strangerKey = makeKey(dir, 'stranger_key');
    upstream = await startUpstreamSshd('alice', upstreamKey.pub);
    await writeFile(join(dir, 'known_hosts'), `gw1 ${upstream.hostKey}\n`);
    await writeFile(join(dir, 'wrong_known_hosts'), `gw1 ${makeKey(dir, 'impostor').pub.split(' ').slice(0, 2).join(' ')}\n`);
    await writeFile(join(dir, 'empty_known_hosts'), '');
    downPort = await freePort();
    const base = { port: 22, privateKeyPath: upstreamKey.path, knownHostsPath: join(dir, 'known_hosts'), trustOnFirstUse: false, agentForwarding: false };
    rules.push(
      { ...base, login: 'mismatch', host: 'gw1', user: 'alice', knownHostsPath: join(dir, 'wrong_known_hosts') },
      { ...base, login: 'unknownkey', host: 'gw1', user: 'alice', knownHostsPath: join(dir, 'empty_known_hosts') },
      { ...base, login: 'tofu', host: 'gw1', user: 'alice', knownHostsPath: join(dir, 'tofu_known_hosts'), trustOnFirstUse: true },
      { ...base, login: 'badkey', host: 'gw1', user: 'alice', privateKeyPath: strangerKey.path },
      { ...base, login: 'down', host: '127.0.0.1', port: downPort },
      { ...base, login: 'withagent', host: 'gw1', user: 'alice', agentForwarding: true },
      { ...base, loginPattern: compileLoginPattern('^(?<user>[^+]+)\\+(?<host>.+)$', 'test'), host: '$<host>' },
    );
    listener = sb.ssh(sb.keys.gw!.path, 'gw1', ['-N', '-R', `22:localhost:${upstream.port}`]);
    await waitUntil(() => sb.resolves('gw1', 22), 15_000, 'gw1 to register port 22');
  });

  after(async () => {
    await listener?.kill();
    await sb?.close();
    await upstream?.close();
  });

  const alice = (user: string, args: string[], command: string[] = [], input?: Buffer) => sb.ssh(sb.keys.alice!.path, user, args, input ?? Buffer.alloc(0), command);

  test('exec: output and exit status come back', async () => {
    const ssh = alice('alice+gw1', [], ['status', '3']);
    assert.equal(await ssh.exited, 3, ssh.stderr());
    assert.equal(ssh.stdout().toString(), 'ran: status 3\n');
  });

  test('exec: the environment the client sends reaches the upstream', async () => {
    const ssh = alice('alice+gw1', ['-o', 'SetEnv=GREETING=hello-upstream'], ['env', 'GREETING']);
    assert.equal(await ssh.exited, 0, ssh.stderr());
    assert.equal(ssh.stdout().toString(), 'hello-upstream\n');
  });

  test('exec: a megabyte both ways exactly, and stdin EOF carried; counted in the SSH traffic', async () => {
    const payload = randomBytes(1024 * 1024);
    const { opened, upstreamBytes, downstreamBytes } = traffic;
    const ssh = alice('alice+gw1', [], ['cat'], payload);
    assert.equal(await ssh.exited, 0, ssh.stderr());
    assert.equal(sha256(ssh.stdout()), sha256(payload));
    assert.equal(traffic.opened, opened + 1);
    assert.ok(traffic.upstreamBytes - upstreamBytes >= payload.length, 'bytes to the upstream counted');
    assert.ok(traffic.downstreamBytes - downstreamBytes >= payload.length, 'bytes back counted');
    await waitUntil(() => traffic.live === 0, 10_000, 'the session to be counted closed');
  });

  test('exec: a large stderr arrives whole, though the exit status follows at once', async () => {
    const ssh = alice('alice+gw1', [], ['stderr', String(4 * 1024 * 1024)]);
    assert.equal(await ssh.exited, 0);
    // OpenSSH's own "Warning: Permanently added ..." line aside.
    const stderr = ssh.stderr().replace(/^Warning: [^\n]*\n/gm, '');
    assert.ok(/^e*$/.test(stderr), `nothing but the bytes sent: ${JSON.stringify(stderr.replace(/e+/g, 'e…'))}`);
    assert.equal(stderr.length, 4 * 1024 * 1024);
    assert.equal(ssh.stdout().length, 0);
  });

  test('each session is one of its key\'s circuits: past max_circuits_per_key one is refused', async () => {
    const held = Array.from({ length: MAX_CIRCUITS }, () => sb.ssh(sb.keys.alice!.path, 'alice+gw1', [], undefined, ['cat']));
    try {
      await waitUntil(() => traffic.live === MAX_CIRCUITS, 15_000, `${MAX_CIRCUITS} sessions to be relayed`);
      const refused = alice('alice+gw1', [], ['status', '0']);
      assert.equal(await refused.exited, 255);
      assert.match(refused.stderr(), new RegExp(`this key already has ${MAX_CIRCUITS} open circuits, the most allowed \\(ssh max_circuits_per_key\\)`));
      await held[0]!.kill();
      await waitUntil(() => traffic.live === MAX_CIRCUITS - 1, 10_000, 'a session to be given back');
      const again = alice('alice+gw1', [], ['status', '0']);
      assert.equal(await again.exited, 0, again.stderr());
    } finally {
      await Promise.all(held.map((ssh) => ssh.kill()));
      await waitUntil(() => traffic.live === 0, 10_000, 'the held sessions to be given back');
    }
  });

  test('a pty shell (ssh -tt): terminal, input lines and exit status', async () => {
    const ssh = alice('alice+gw1', ['-tt'], [], Buffer.from('hello\nexit\n'));
    assert.equal(await ssh.exited, 7, ssh.stderr());
    const out = ssh.stdout().toString();
    assert.match(out, /pty \S+ \d+x\d+\r\n/);
    assert.match(out, /you said: hello\r\n/);
  });

  test('a window change reaches the upstream shell (ssh2 client)', async () => {
    const client = new ssh2.Client();
    const privateKey = await readFile(sb.keys.alice!.path);
    await new Promise<void>((resolve, reject) => {
      client.once('ready', resolve).once('error', reject);
      client.connect({ host: '127.0.0.1', port: sb.door.port, username: 'alice+gw1', privateKey });
    });
    try {
      const out = await new Promise<string>((resolve, reject) => {
        client.shell({ term: 'xterm', cols: 80, rows: 24 }, (err, stream) => {
          if (err) return reject(err);
          let text = '';
          stream.on('data', (d: Buffer) => {
            text += d.toString();
            if (text.includes('pty xterm 80x24') && !text.includes('window')) stream.setWindow(50, 132, 0, 0);
            if (text.includes('window 132x50')) stream.write('exit\n');
          });
          stream.on('close', () => resolve(text));
        });
      });
      assert.match(out, /pty xterm 80x24\r\n/);
      assert.match(out, /window 132x50\r\n/);
    } finally {
      client.end();
    }
  });

  test('sftp: put then get, byte for byte', { skip: !existsSync(SFTP) && 'no /usr/bin/sftp' }, async () => {
    const payload = randomBytes(512 * 1024);
    await writeFile(join(sb.dir, 'up.bin'), payload);
    await writeFile(join(sb.dir, 'batch'), 'put up.bin remote.bin\nget remote.bin down.bin\n');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: sb.dir };
    delete env.SSH_AUTH_SOCK;
    const args = ['-F', sb.config, '-i', sb.keys.alice!.path, '-P', String(sb.door.port), '-b', join(sb.dir, 'batch'), 'alice+gw1@127.0.0.1'];
    const child = spawn(SFTP, args, { cwd: sb.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const code = await new Promise((resolve) => child.once('close', resolve));
    assert.equal(code, 0, stderr);
    assert.equal(sha256(upstream.files.get('/remote.bin') ?? Buffer.alloc(0)), sha256(payload), 'the upstream got the file');
    assert.equal(sha256(await readFile(join(sb.dir, 'down.bin'))), sha256(payload), 'and gave it back');
  });

  test('trust on first use learns the host key, then checks it', async () => {
    for (let i = 0; i < 2; i++) {
      const ssh = alice('tofu', [], ['hello']);
      assert.equal(await ssh.exited, 0, ssh.stderr());
      assert.equal(ssh.stdout().toString(), 'ran: hello\n');
    }
    assert.equal(await readFile(join(sb.dir, 'tofu_known_hosts'), 'utf8'), `gw1 ${upstream.hostKey}\n`);
  });

  const failures: [string, string, RegExp][] = [
    ['no rule matches', 'carol', /^netunnel: no upstream rule matches the user name "carol"$/m],
    ['the upstream is down (unknown name)', 'alice+gw9', /^netunnel: cannot reach the upstream gw9: Address gw9 is not allowed as a tunnel destination$/m],
    ['the upstream is down (refused)', 'down', /^netunnel: cannot reach the upstream \[127\.0\.0\.1\]:\d+: .*ECONNREFUSED/m],
    ['the upstream refuses the key', 'badkey', /^netunnel: the upstream gw1 refused the server's key for user "alice"$/m],
    ['the upstream refuses the user', 'bob+gw1', /^netunnel: the upstream gw1 refused the server's key for user "bob"$/m],
    ['the host key does not match', 'mismatch', /^netunnel: refusing the upstream gw1: host key of gw1 \(SHA256:\S+\) does not match .*wrong_known_hosts line 1: it changed, or something is impersonating it$/m],
    ['the host key is unknown', 'unknownkey', /^netunnel: refusing the upstream gw1: host key of gw1 \(SHA256:\S+\) is not in .*empty_known_hosts$/m],
  ];
  for (const [what, user, message] of failures) {
    test(`${what}: a clear message on stderr and exit status 255`, async () => {
      const ssh = alice(user, [], ['hello']);
      assert.equal(await ssh.exited, 255, ssh.stderr());
      assert.match(ssh.stderr(), message);
      assert.equal(ssh.stdout().length, 0);
    });
  }

  test('agent forwarding (ssh -A): refused unless the rule allows it', async () => {
    const socket = join(sb.dir, 'agent.sock');
    const agent = spawn(SSH_AGENT, ['-D', '-a', socket], { stdio: 'ignore' });
    trackChild(agent);
    try {
      await waitUntil(() => existsSync(socket), 10_000, 'ssh-agent to listen');
      execFileSync(SSH_ADD, ['-q', sb.keys.gw!.path], { env: { ...process.env, SSH_AUTH_SOCK: socket }, stdio: 'ignore' });
      const withAgent = ['-A', '-o', `IdentityAgent=${socket}`];
      const allowed = alice('withagent', withAgent, ['agent-list']);
      assert.equal(await allowed.exited, 0, allowed.stderr());
      assert.equal(allowed.stdout().toString(), 'agent identities: 1\n');
      const refused = alice('alice+gw1', withAgent, ['agent-list']);
      assert.equal(await refused.exited, 0, refused.stderr());
      assert.equal(refused.stdout().toString(), 'no agent\n');
    } finally {
      agent.kill();
    }
  });

  test('permitopen limits where a proxy key may go', async () => {
    const ssh = sb.ssh(sb.keys.limited!.path, 'alice+gw1', [], Buffer.alloc(0), ['hello']);
    assert.equal(await ssh.exited, 255, ssh.stderr());
    assert.match(ssh.stderr(), /^netunnel: gw1:22 is not allowed by permitopen for this key$/m);
  });

  test('a key without access="proxy" keeps the front door session', async () => {
    const ssh = sb.ssh(sb.keys.listenonly!.path, 'alice+gw1', [], Buffer.alloc(0), ['help']);
    assert.equal(await ssh.exited, 0, ssh.stderr());
    assert.match(ssh.stdout().toString(), /netunnel SSH front door/);
  });
});

describe('the reverse proxy reaching a real address', () => {
  test('goes through the destination rules: an allowed address is reached, others refused', async () => {
    const rules: UpstreamRule[] = [];
    const registry = new (await import('../server/tunnel-registry.js')).TunnelRegistry();
    let allowedPort = 0;
    const destinations = new Destinations(registry, () => ({ '127.0.0.1': String(allowedPort) }));
    const sb = await startSwitchboard({ alice: 'ed25519' }, (keys) => [`access="proxy" ${keys.alice!.pub}`], { upstreams: rules, destinations });
    const upstreamKey = makeKey(sb.dir, 'upstream_key');
    const upstream = await startUpstreamSshd('alice', upstreamKey.pub);
    allowedPort = upstream.port;
    try {
      await writeFile(join(sb.dir, 'known_hosts'), `[127.0.0.1]:${upstream.port} ${upstream.hostKey}\n`);
      const base = { privateKeyPath: upstreamKey.path, knownHostsPath: join(sb.dir, 'known_hosts'), trustOnFirstUse: false, agentForwarding: false, host: '127.0.0.1', user: 'alice' };
      rules.push({ ...base, login: 'ok', port: upstream.port }, { ...base, login: 'other', port: upstream.port + 1 });
      const ok = sb.ssh(sb.keys.alice!.path, 'ok', [], Buffer.alloc(0), ['status', '0']);
      assert.equal(await ok.exited, 0, ok.stderr());
      assert.equal(ok.stdout().toString(), 'ran: status 0\n');
      const other = sb.ssh(sb.keys.alice!.path, 'other', [], Buffer.alloc(0), ['status', '0']);
      assert.equal(await other.exited, 255);
      assert.match(other.stderr(), /^netunnel: cannot reach the upstream \[127\.0\.0\.1\]:\d+: Port 127\.0\.0\.1:\d+ is not allowed as a tunnel destination$/m);
    } finally {
      await sb.close();
      await upstream.close();
    }
  });
});

/**
 * Runs `command` on an open ssh2 client connection: its exit code (undefined without one), stdout
 * and stderr. `started` is called once its first output arrives, after `input` was sent.
 */
function execOn(client: ssh2.Client, command: string, input?: string, started?: () => void): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (err, stream) => {
      if (err) return reject(err);
      if (input !== undefined) stream.write(input);
      if (started) stream.once('data', started);
      let code: number | undefined;
      let stdout = '';
      let stderr = '';
      stream.on('exit', (status: number | null) => (code = status ?? undefined));
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('close', () => resolve({ code, stdout, stderr }));
    });
  });
}

describe('the reverse proxy when its upstream connection fails', () => {
  test('a refused upstream is tried again, and one that hangs up ends its sessions with a line; the connection goes on', async () => {
    const rules: UpstreamRule[] = [];
    const registry = new (await import('../server/tunnel-registry.js')).TunnelRegistry();
    const relayPort = await freePort();
    const sb = await startSwitchboard({ alice: 'ed25519' }, (keys) => [`access="proxy" ${keys.alice!.pub}`], {
      upstreams: rules,
      destinations: new Destinations(registry, () => ({ '127.0.0.1': String(relayPort) })),
    });
    const upstreamKey = makeKey(sb.dir, 'upstream_key');
    const upstream = await startUpstreamSshd('alice', upstreamKey.pub);
    // Between the door and the upstream: a relay that can hang up on the door (a FIN, no SSH goodbye).
    const relayed = new Set<{ inbound: net.Socket; outbound: net.Socket }>();
    const relay = net.createServer({ allowHalfOpen: true }, (inbound) => {
      const outbound = net.connect(upstream.port, '127.0.0.1');
      for (const socket of [inbound, outbound]) socket.on('error', () => {});
      inbound.pipe(outbound).pipe(inbound);
      relayed.add({ inbound, outbound });
    });
    const client = new ssh2.Client();
    try {
      await writeFile(join(sb.dir, 'known_hosts'), `[127.0.0.1]:${relayPort} ${upstream.hostKey}\n`);
      rules.push({ login: 'relayed', host: '127.0.0.1', port: relayPort, user: 'alice', privateKeyPath: upstreamKey.path, knownHostsPath: join(sb.dir, 'known_hosts'), trustOnFirstUse: false, agentForwarding: false });
      const privateKey = await readFile(sb.keys.alice!.path);
      await new Promise<void>((resolve, reject) => {
        client.once('ready', resolve).once('error', reject);
        client.connect({ host: '127.0.0.1', port: sb.door.port, username: 'relayed', privateKey });
      });
      const refused = await execOn(client, 'status 0');
      assert.equal(refused.code, 255);
      assert.match(refused.stderr, /^netunnel: cannot reach the upstream \[127\.0\.0\.1\]:\d+: .*ECONNREFUSED/);
      await new Promise<void>((resolve) => relay.listen(relayPort, '127.0.0.1', resolve));
      assert.equal((await execOn(client, 'status 3')).code, 3, 'the upstream is back: tried again');

      let echoed = false;
      const cat = execOn(client, 'cat', 'ping', () => (echoed = true));
      await waitUntil(() => echoed, 10_000, 'the session to be up');
      for (const { inbound, outbound } of relayed) {
        outbound.unpipe(inbound);
        inbound.end();
      }
      const hungUp = await cat;
      assert.equal(hungUp.code, undefined);
      assert.equal(hungUp.stdout, 'ping');
      assert.equal(hungUp.stderr, 'netunnel: the upstream closed the session without an exit status\r\n');
      // The same client connection gets a new upstream connection (it used to crash the server).
      assert.equal((await execOn(client, 'status 4')).code, 4);
      assert.equal(relayed.size, 2);
    } finally {
      client.end();
      for (const { inbound, outbound } of relayed) {
        inbound.destroy();
        outbound.destroy();
      }
      relay.close();
      await sb.close();
      await upstream.close();
    }
  });
});

describe('ssh.upstreams in the config file, through the real server CLI', () => {
  let dir: string;
  let upstream: UpstreamSshd;
  const writeConfig = (upstreams: unknown[], sshPort: number) =>
    writeFile(join(dir, 'netunnel.conf'), JSON.stringify({ ssh: { port: sshPort, host_key: 'host_key', authorized_keys: 'authorized_keys', upstreams } }));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-ssh-upstreams-'));
    const gw = makeKey(dir, 'gw_key');
    const alice = makeKey(dir, 'alice_key');
    const upstreamKey = makeKey(dir, 'upstream_key');
    upstream = await startUpstreamSshd('alice', upstreamKey.pub);
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${gw.pub}\naccess="proxy" ${alice.pub}\n`);
    await writeFile(join(dir, 'known_hosts'), `gw1 ${upstream.hostKey}\n`);
  });

  after(async () => {
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a pattern rule with relative paths proxies alice+gw1', async () => {
    const sshPort = await freePort();
    await writeConfig([{ login_pattern: '^(?<user>[^+]+)\\+(?<host>.+)$', host: '$<host>', private_key: 'upstream_key', known_hosts: 'known_hosts' }], sshPort);
    const server = await startServerProcess(['-c', join(dir, 'netunnel.conf')]);
    await server.waitFor(/SSH front door listening/);
    const config = writeSshConfig(dir);
    const listener = runSsh(dir, config, ['-i', join(dir, 'gw_key'), '-p', String(sshPort), '-N', '-R', `22:localhost:${upstream.port}`, 'gw1@127.0.0.1']);
    try {
      await Promise.race([server.waitFor(/SSH listener .*gw1.* registered port 22/, 15_000), listener.exited.then(() => assert.fail(listener.stderr()))]);
      const ssh = runSsh(dir, config, ['-i', join(dir, 'alice_key'), '-p', String(sshPort), 'alice+gw1@127.0.0.1', 'status', '5']);
      assert.equal(await ssh.exited, 5, ssh.stderr());
      assert.equal(ssh.stdout().toString(), 'ran: status 5\n');
      assert.doesNotMatch(server.output(), /PRIVATE KEY/);
    } finally {
      await listener.kill();
      await server.stop();
    }
  });

  test('examples/ssh-front-door/upstreams.conf is a valid config', async () => {
    const example = join(dir, 'example');
    await cp(fileURLToPath(new URL('../../examples/ssh-front-door', import.meta.url)), example, { recursive: true });
    const conf = JSON.parse(await readFile(join(example, 'upstreams.conf'), 'utf8')) as { ssh: { port: number } };
    conf.ssh.port = await freePort();
    await writeFile(join(example, 'upstreams.conf'), JSON.stringify(conf));
    const server = await startServerProcess(['-c', join(example, 'upstreams.conf')]);
    try {
      await server.waitFor(/SSH front door listening/);
    } finally {
      await server.stop();
    }
  });

  for (const [what, rule, message] of [
    ['both login and login_pattern', { login: 'a', login_pattern: 'b' }, /upstreams/],
    ['a bad pattern', { login_pattern: '(' }, /ssh\.upstreams\[0\]: login_pattern "\(" is not a valid regular expression/],
    ['an unknown key', { login: 'a', password: 'x' }, /password/],
  ] as const) {
    test(`${what} is refused at start with one line`, async () => {
      await writeConfig([{ host: 'gw1', private_key: 'upstream_key', known_hosts: 'known_hosts', ...rule }], await freePort());
      const run = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', '0', '-c', join(dir, 'netunnel.conf')]);
      assert.notEqual(await run.exited(), 0);
      assert.match(run.output(), message);
    });
  }
});
