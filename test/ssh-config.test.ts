import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey, runSsh, writeSshConfig } from './support/openssh.js';
import { SERVER_BIN, spawnNode, startServerProcess } from './support/processes.js';
import { echoServer, freePort } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** The config file's `ssh` section, through the real server CLI. */
describe('the ssh section of the config file', () => {
  let dir: string;
  let listenKey: { path: string; pub: string };
  let echo: TestServer;

  const writeConfig = (ssh: unknown, name = 'netunnel.conf'): Promise<string> => {
    const path = join(dir, name);
    return writeFile(path, JSON.stringify({ ssh })).then(() => path);
  };

  /** The server's exit code and output when it refuses to start. */
  const refusal = async (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | string; output: string }> => {
    const p = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', '0', ...args], env);
    const code = await p.exited();
    return { code, output: p.output() };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-ssh-config-'));
    listenKey = makeKey(dir, 'listen_key');
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${listenKey.pub}\n`);
    echo = await echoServer();
  });

  after(async () => {
    await echo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('enables the front door with paths relative to the config file and its per-key limits', async () => {
    const config = await writeConfig({ host: '127.0.0.1', port: 0, authorized_keys: 'authorized_keys', host_key: 'door_key', max_forwards_per_key: 1 });
    // Run from another folder: relative paths must not depend on it.
    const server = await startServerProcess(['-c', config], { cwd: tmpdir() });
    try {
      const port = Number((await server.waitFor(/SSH front door listening on 127\.0\.0\.1:(\d+)/))[1]);
      assert.ok((await stat(join(dir, 'door_key'))).isFile(), 'the host key was generated beside the config');
      const two = runSsh(dir, writeSshConfig(dir), ['-i', listenKey.path, '-p', String(port), '-N', '-R', `22:localhost:${echo.port}`, '-R', `23:localhost:${echo.port}`, 'gw@127.0.0.1']);
      assert.equal(await two.exited, 255);
      assert.match(two.stderr(), /remote port forwarding failed for listen port 23/);
      // The server's log may arrive after ssh has exited.
      await server.waitFor(/this key already has 1 forwarded ports, the most allowed \(ssh max_forwards_per_key\)/);
    } finally {
      await server.stop();
    }
  });

  test('--ssh-* flags override the section', async () => {
    const config = await writeConfig({ port: 1, authorized_keys: 'missing_file' });
    const port = await freePort();
    const server = await startServerProcess(['-c', config, '--ssh-port', String(port), '--ssh-authorized-keys', join(dir, 'authorized_keys')]);
    try {
      await server.waitFor(new RegExp(`SSH front door listening on 127\\.0\\.0\\.1:${port}`));
    } finally {
      await server.stop();
    }
  });

  test('NETUNNEL_SSH enables the front door of a server without a config file', async () => {
    const ssh = { host: '127.0.0.1', port: 0, authorized_keys: join(dir, 'authorized_keys'), host_key: join(dir, 'env_key'), max_forwards_per_key: 1 };
    const server = await startServerProcess([], { env: { NETUNNEL_SSH: JSON.stringify(ssh) } });
    try {
      const port = Number((await server.waitFor(/SSH front door listening on 127\.0\.0\.1:(\d+)/))[1]);
      const two = runSsh(dir, writeSshConfig(dir), ['-i', listenKey.path, '-p', String(port), '-N', '-R', `22:localhost:${echo.port}`, '-R', `23:localhost:${echo.port}`, 'gw@127.0.0.1']);
      assert.equal(await two.exited, 255);
      assert.match(two.stderr(), /remote port forwarding failed for listen port 23/, 'the per-key limit came from the variable too');
    } finally {
      await server.stop();
    }
  });

  test('a bad NETUNNEL_SSH is refused with a line naming the variable', async () => {
    const { code, output } = await refusal([], { NETUNNEL_SSH: '{"port": 0}' });
    assert.equal(code, 2, output);
    assert.match(output, /NETUNNEL_SSH: missing required property "authorized_keys"/);
    assert.doesNotMatch(output, /listening/);
  });

  test('a corrupt host key file is refused with a line saying how to get a new one, and left as it was', async () => {
    const hostKey = join(dir, 'corrupt_host_key');
    const corrupt = '-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n';
    await writeFile(hostKey, corrupt, { mode: 0o600 });
    const { code, output } = await refusal(['--ssh-port', '0', '--ssh-authorized-keys', join(dir, 'authorized_keys'), '--ssh-host-key', hostKey]);
    assert.equal(code, 2, output);
    assert.match(output, new RegExp(`SSH host key ${hostKey} is not a valid private key: .*; remove the file to have a new one generated`));
    assert.equal(await readFile(hostKey, 'utf8'), corrupt);
  });

  test('"enabled": false leaves the front door off', async () => {
    // Enabled, a missing authorized_keys file would stop the server before it listens.
    const config = await writeConfig({ enabled: false, port: 0, authorized_keys: 'nowhere' });
    const server = await startServerProcess(['-c', config]);
    await server.stop();
    assert.doesNotMatch(server.output(), /SSH front door|no such file/);
  });

  test('a bad section is refused with a sentence naming the key, before anything listens', async () => {
    const cases: [unknown, RegExp][] = [
      [{ port: 'x', authorized_keys: 'authorized_keys' }, /key "ssh": at \/port: expected an integer, got "x"/],
      [{ port: 0 }, /key "ssh": missing required property "authorized_keys"/],
      [{ prot: 0, authorized_keys: 'authorized_keys' }, /key "ssh": unknown property "prot"/],
      [{ max_circuits_per_key: 0, authorized_keys: 'authorized_keys' }, /key "ssh": at \/max_circuits_per_key: expected a number >= 1, got 0/],
      [{ port: 0, authorized_keys: 'nowhere' }, /config key ssh\.authorized_keys \/.*\/nowhere: no such file/],
    ];
    for (const [section, message] of cases) {
      const { code, output } = await refusal(['-c', await writeConfig(section, 'bad.conf')]);
      assert.equal(code, 2, output);
      assert.match(output, message);
      assert.doesNotMatch(output, /listening/);
    }
  });
});
