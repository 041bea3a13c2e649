import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey, runSsh, startExecServer, writeSshConfig } from './support/openssh.js';
import type { ExecServer, SshProcess } from './support/openssh.js';
import { CLIENT_BIN, startServerProcess, trackChild } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { freePort, randomBytes, requestReplyServer, sha256 } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const SECRET_FLAGS = ['--auth-plugin', 'shared-secret', '--auth-data', '{"secret": "s3cret"}'];

/** The reply server's answer: the request's SHA-256 (proves every byte and the EOF arrived), then its own bytes. */
const REPLY_BODY = randomBytes(512 * 1024);
const reply = (request: Buffer) => Buffer.concat([createHash('sha256').update(request).digest(), REPLY_BODY]);

interface StdioRun {
  code: number | string;
  stdout: Buffer;
  stderr: string;
}

/** Runs `netunnel-client ...args` with `input` on stdin (then EOF) and collects everything. */
function runClient(args: string[], input: Buffer): Promise<StdioRun> {
  const child = spawn(process.execPath, [CLIENT_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', stdout: Buffer.concat(out), stderr })));
}

describe('netunnel-client --stdio', () => {
  let dir: string;
  let server: ServerProcess;
  let replies: TestServer;
  let sshd: ExecServer;
  let listener: SshProcess;
  let sshConfig: string;
  let userKey: string;
  let initKey: string;
  let sshPort: number;
  let deadPort: number;

  /** The shell command line OpenSSH runs as ProxyCommand. */
  const stdioCommand = (target: string) => `'${process.execPath}' '${CLIENT_BIN}' -s ${server.url} --auth-plugin shared-secret --auth-data '{"secret": "s3cret"}' --stdio ${target}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-stdio-'));
    const gwKey = makeKey(dir, 'gw_key');
    userKey = makeKey(dir, 'user_key').path;
    const init = makeKey(dir, 'init_key');
    initKey = init.path;
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${gwKey.pub}\naccess="initiate" ${init.pub}\n`);
    replies = await requestReplyServer(reply);
    sshd = await startExecServer();
    sshPort = await freePort();
    deadPort = await freePort();
    const allowed = `${replies.port},${sshPort},${deadPort}`;
    await writeFile(join(dir, 'netunnel.conf'), JSON.stringify({ allowed_tunnel_destinations: { '127.0.0.1': allowed } }));
    server = await startServerProcess([
      '-c', join(dir, 'netunnel.conf'),
      '--ssh-port', String(sshPort),
      '--ssh-authorized-keys', join(dir, 'authorized_keys'),
      '--ssh-host-key', join(dir, 'host_key'),
      ...SECRET_FLAGS,
    ]);
    await server.waitFor(/SSH front door listening/);
    sshConfig = writeSshConfig(dir);
    // gw1 offers the reply server on 80 and the ssh2 "sshd" on 22, as a NATed gateway would.
    listener = runSsh(dir, sshConfig, ['-i', gwKey.path, '-p', String(sshPort), '-N', '-R', `80:localhost:${replies.port}`, '-R', `22:localhost:${sshd.port}`, 'gw1@127.0.0.1']);
    await server.waitFor(/SSH listener .*gw1.* registered port 80/, 15_000);
    await server.waitFor(/SSH listener .*gw1.* registered port 22/, 15_000);
  });

  after(async () => {
    await listener?.kill();
    await server?.stop();
    await replies?.close();
    await sshd?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [what, target] of [
    ['an allowed destination', () => `127.0.0.1:${replies.port}`],
    ["an SSH listener's name", () => 'gw1:80'],
  ] as const) {
    test(`carries bytes both ways exactly, and stdin's EOF, to ${what}`, async () => {
      const request = randomBytes(1024 * 1024);
      const run = await runClient(['-s', server.url, ...SECRET_FLAGS, '--stdio', target()], request);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, '');
      assert.equal(run.stdout.length, 32 + REPLY_BODY.length);
      assert.equal(run.stdout.subarray(0, 32).toString('hex'), sha256(request), 'the far side got every byte, then EOF');
      assert.equal(sha256(run.stdout.subarray(32)), sha256(REPLY_BODY));
    });
  }

  test("is OpenSSH's ProxyCommand to an sshd behind a listener", async () => {
    const ssh = runSsh(dir, sshConfig, ['-i', userKey, '-o', `ProxyCommand=${stdioCommand('%h:%p')}`, 'someone@gw1', 'echo', 'through-stdio']);
    assert.equal(await ssh.exited, 0, ssh.stderr());
    assert.equal(ssh.stdout().toString(), 'ran: echo through-stdio\n');
  });

  test('a chain: OpenSSH jumps through the front door, itself reached by ProxyCommand --stdio', async () => {
    // The jump leg (ssh -W gw1:22 door) reaches the SSH front door through netunnel's websocket.
    const chain = join(dir, 'ssh_config_chain');
    await writeFile(
      chain,
      [
        'Host door',
        '  HostName 127.0.0.1',
        `  Port ${sshPort}`,
        '  User initiator',
        `  IdentityFile ${initKey}`,
        `  ProxyCommand ${stdioCommand('%h:%p')}`,
        'Host gw1',
        '  User someone',
        `  IdentityFile ${userKey}`,
        '  ProxyJump door',
        '',
      ].join('\n') + (await readFile(sshConfig, 'utf8')),
    );
    const ssh = runSsh(dir, chain, ['gw1', 'echo', 'chained']);
    assert.equal(await ssh.exited, 0, ssh.stderr());
    assert.equal(ssh.stdout().toString(), 'ran: echo chained\n');
  });

  const failures: [string, () => string[], RegExp][] = [
    ['an unknown name', () => [...SECRET_FLAGS, '--stdio', 'nobody:22'], /^netunnel-client: Address nobody is not allowed as a tunnel destination\n$/],
    ['a name without that port', () => [...SECRET_FLAGS, '--stdio', 'gw1:23'], /^netunnel-client: Unknown port 23 on "gw1" \(its ports: 22, 80\)\n$/],
    ['a refused destination', () => [...SECRET_FLAGS, '--stdio', '127.0.0.1:1'], /^netunnel-client: Port 127\.0\.0\.1:1 is not allowed as a tunnel destination\n$/],
    ['an allowed destination nobody listens on', () => [...SECRET_FLAGS, '--stdio', `127.0.0.1:${deadPort}`], /^netunnel-client: cannot connect to 127\.0\.0\.1:\d+ from the server: .*ECONNREFUSED.*\n$/],
    ['missing credentials', () => ['--stdio', 'gw1:22'], /^netunnel-client: the server requires authentication .*\n$/],
  ];
  for (const [what, args, line] of failures) {
    test(`${what}: one line on stderr, nothing on stdout, exit status 255`, async () => {
      const run = await runClient(['-s', server.url, ...args()], Buffer.from('hello'));
      assert.equal(run.code, 255, run.stderr);
      assert.match(run.stderr, line);
      assert.equal(run.stdout.length, 0);
    });
  }

  test('an unreachable server: one line, exit status 255', async () => {
    const run = await runClient(['-s', `http://127.0.0.1:${await freePort()}`, '--stdio', 'gw1:22'], Buffer.alloc(0));
    assert.equal(run.code, 255);
    assert.match(run.stderr, /^netunnel-client: [^\n]+\n$/);
    assert.equal(run.stdout.length, 0);
  });
});
