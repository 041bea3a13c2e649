import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { STATELESS_WARNING } from '../server/config/store.js';
import { SERVER_BIN, spawnNode, startServerProcess } from './support/processes.js';
import { withTempDir } from './support/temp-dir.js';

/** Runs the server CLI to its exit; resolves with the exit code and everything it printed. */
async function runServer(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string) {
  const server = spawnNode(SERVER_BIN, args, env, cwd);
  const code = await server.exited();
  return { code, output: server.output() };
}

test('a bad NETUNNEL_* value stops the start: one line naming the variable, exit code 2', async () => {
  const { code, output } = await runServer(['-p', '0'], { NETUNNEL_MAX_CHANNELS: '"many"' });
  assert.equal(code, 2);
  assert.equal(output, 'netunnel-server: NETUNNEL_MAX_CHANNELS: expected an integer, got "many"\n');
});

test('a corrupt config file stops the start and is left exactly as it was', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'netunnel.conf');
    await writeFile(path, '{"peers": [');
    const { code, output } = await runServer(['-p', '0', '-c', path]);
    assert.equal(code, 2);
    assert.match(output, /^netunnel-server: config file .*netunnel\.conf is not valid JSON .*\n$/);
    assert.equal(await readFile(path, 'utf8'), '{"peers": [');
    assert.deepEqual(await readdir(dir), ['netunnel.conf']);
  }));

test('an invalid secret key stops the start with a hint to generate one', async () => {
  const { code, output } = await runServer(['-p', '0', '-s', 'my passphrase']);
  assert.equal(code, 2);
  assert.match(output, /^netunnel-server: --secret-key: invalid Fernet key.*netunnel-security generate-key.*\n$/);
});

test('without -c the server warns that it is stateless and writes nothing', () =>
  withTempDir(async (dir) => {
    const server = await startServerProcess([], { cwd: dir });
    try {
      const warning = `\x1b[33m${STATELESS_WARNING}\x1b[0m`;
      assert.ok(server.output().split('\n').includes(warning), server.output());
    } finally {
      await server.stop();
    }
    assert.deepEqual(await readdir(dir), []);
  }));

test('config create writes a full config, also to a bare file name', () =>
  withTempDir(async (dir) => {
    const { code, output } = await runServer(['config', 'create', 'bare.conf', '--custom-changes', '{"max_channels": 7}'], {}, dir);
    assert.equal(code, 0, output);
    const written = JSON.parse(await readFile(join(dir, 'bare.conf'), 'utf8')) as Record<string, unknown>;
    assert.equal(written.max_channels, 7);
    assert.deepEqual(written.allowed_tunnel_destinations, { '127.0.0.1': '*' });
    const bad = await runServer(['config', 'create', 'other.conf', '--custom-changes', '{oops'], {}, dir);
    assert.equal(bad.code, 2);
    assert.match(bad.output, /^netunnel-server: .*\n$/);
  }));

test('an address already in use is one line and exit code 1', async () => {
  const first = await startServerProcess();
  try {
    const second = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', String(first.port)]);
    assert.equal(await second.exited(), 1);
    assert.match(second.output(), new RegExp(`^netunnel-server: cannot listen on 127\\.0\\.0\\.1:${first.port}: address already in use$`, 'm'));
  } finally {
    await first.stop();
  }
});

/** How often the process's main thread has gone to sleep waiting for something to do. */
async function mainThreadSleeps(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/task/${pid}/status`, 'utf8');
  return Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)![1]);
}

test('an idle server sleeps: no timer wakes its main thread many times a second', { skip: process.platform !== 'linux' }, async () => {
  const server = await startServerProcess();
  try {
    const pid = server.child.pid!;
    await setTimeout(500);
    const before = await mainThreadSleeps(pid);
    await setTimeout(2000);
    const wakeUps = (await mainThreadSleeps(pid)) - before;
    // A 10 ms timer (prom-client's default lag sampling) makes about 200 here.
    assert.ok(wakeUps < 40, `the idle main thread woke ${wakeUps} times in 2 s`);
  } finally {
    await server.stop();
  }
});
