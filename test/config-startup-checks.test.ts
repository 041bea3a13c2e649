import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Fernet } from '../common/fernet.js';
import { MAX_TIMER_SECONDS, defaultConfig } from '../server/config/defaults.js';
import { ConfigStore } from '../server/config/store.js';
import { SERVER_BIN, spawnNode, startServerProcess } from './support/processes.js';
import { withTempDir } from './support/temp-dir.js';
import { configInvalid } from './support/config-assertions.js';

const quiet = pino({ level: 'silent' });
const KEY_A = Fernet.generateKey();
const KEY_B = Fernet.generateKey();

/**
 * Runs the server CLI until it exits, or gives up after `ms` (a server that wrongly starts
 * would otherwise hold the test forever) and reports `running`.
 */
async function runServer(args: string[], env: NodeJS.ProcessEnv = {}, ms = 10_000): Promise<{ code: number | string; output: string }> {
  const server = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', '0', ...args], env);
  const code = await Promise.race([server.exited(), sleep(ms).then(() => 'running' as const)]);
  if (code === 'running') await server.stop('SIGKILL');
  return { code, output: server.output() };
}

// ---- Timer settings ---------------------------------------------------------------------

test('the timer maximum is the most whole seconds a Node timer can wait', () => {
  assert.equal(MAX_TIMER_SECONDS, 2147483);
  assert.ok(MAX_TIMER_SECONDS * 1000 <= 2 ** 31 - 1);
  assert.ok((MAX_TIMER_SECONDS + 1) * 1000 > 2 ** 31 - 1);
});

for (const key of ['channel_connect_timeout', 'static_tunnel_health_check_interval']) {
  const variable = `NETUNNEL_${key.toUpperCase()}`;

  test(`${variable} above the timer maximum stops the start: one line naming it, exit code 2`, async () => {
    for (const value of ['1e9', String(MAX_TIMER_SECONDS + 1)]) {
      const { code, output } = await runServer([], { [variable]: value });
      assert.equal(code, 2, output);
      assert.equal(output, `netunnel-server: ${variable}: expected a number <= ${MAX_TIMER_SECONDS} (seconds; the longest timer Node.js can set), got ${Number(value)}\n`);
    }
  });

  test(`${key} above the timer maximum in the file is refused naming the file and key; the file is untouched`, () =>
    withTempDir(async (dir) => {
      const path = join(dir, 'netunnel.conf');
      const text = `${JSON.stringify({ ...defaultConfig(), [key]: 1e9 })}\n`;
      await writeFile(path, text);
      const { code, output } = await runServer(['-c', path]);
      assert.equal(code, 2, output);
      assert.match(output, new RegExp(`^netunnel-server: config file .*netunnel\\.conf, key "${key}": expected a number <= ${MAX_TIMER_SECONDS}.*\\n$`));
      assert.equal(await readFile(path, 'utf8'), text);
    }));

  test(`${key} at the timer maximum is accepted`, async () => {
    const store = await ConfigStore.open({ env: { [variable]: String(MAX_TIMER_SECONDS) }, logger: quiet });
    assert.equal(store.config[key], MAX_TIMER_SECONDS);
    await assert.rejects(
      store.update((draft) => {
        draft[key] = MAX_TIMER_SECONDS + 1;
      }),
      configInvalid(`key "${key}"`, `<= ${MAX_TIMER_SECONDS}`),
    );
  });
}

test('a channel with the longest connect timeout waits, and Node does not warn of an overflow', async () => {
  const server = await startServerProcess([], { env: { NETUNNEL_CHANNEL_CONNECT_TIMEOUT: String(MAX_TIMER_SECONDS) } });
  try {
    const created = await fetch(`${server.url}/channels`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"version": "1.0.12"}' });
    assert.equal(created.status, 200, await created.text());
    await sleep(300);
    const status = (await (await fetch(`${server.url}/status`)).json()) as { channels: unknown[] };
    assert.equal(status.channels.length, 1, 'the unconnected channel is still there');
    assert.doesNotMatch(server.output(), /TimeoutOverflowWarning/);
  } finally {
    await server.stop();
  }
});

// ---- The secret key ---------------------------------------------------------------------

/** A config file whose secrets were encrypted with KEY_A, and that holds no key itself. */
async function fileWithSecrets(dir: string, extra: Record<string, unknown> = {}): Promise<{ path: string; text: string }> {
  const a = new Fernet(KEY_A);
  const path = join(dir, 'netunnel.conf');
  const config = {
    ...defaultConfig(),
    http_proxy: { proxy_url: 'http://127.0.0.1:3128', username: a.encrypt('user'), password: a.encrypt('pass') },
    peers: [{ id: 1, name: 'hub', target_netunnel_url: 'http://127.0.0.1:1', auth_data: a.encrypt('{"secret":"s"}'), static_tunnels: [] }],
    ...extra,
  };
  const text = `${JSON.stringify(config, null, 4)}\n`;
  await writeFile(path, text);
  return { path, text };
}

test('the key that encrypted the secrets opens the file', () =>
  withTempDir(async (dir) => {
    const { path } = await fileWithSecrets(dir);
    const store = await ConfigStore.open({ path, env: {}, secretKey: KEY_A, logger: quiet });
    assert.equal(store.decryptSecret(store.config.http_proxy!.username!), 'user');
  }));

test('another --secret-key stops the start: one line naming the setting, exit code 2, the file untouched', () =>
  withTempDir(async (dir) => {
    const { path, text } = await fileWithSecrets(dir);
    const { code, output } = await runServer(['-c', path, '-s', KEY_B]);
    assert.equal(code, 2, output);
    assert.match(
      output,
      /^netunnel-server: config file .*netunnel\.conf, key "http_proxy\.username": the secret key \(--secret-key\) does not match the one that encrypted this value \(.*\); start the server with that key, or remove the value and set it again\n$/,
    );
    assert.equal(await readFile(path, 'utf8'), text);
    assert.deepEqual(await readdir(dir), ['netunnel.conf']);
  }));

test('a peer’s auth data that the key cannot open is named with the peer', () =>
  withTempDir(async (dir) => {
    const { path } = await fileWithSecrets(dir, { http_proxy: null });
    await assert.rejects(
      ConfigStore.open({ path, env: {}, secretKey: KEY_B, logger: quiet }),
      configInvalid(`config file ${path}, key "peers[0].auth_data (peer "hub")"`, 'does not match'),
    );
  }));

test('a wrong NETUNNEL_SECRET_KEY, or the file’s own key, is named as the key in use', () =>
  withTempDir(async (dir) => {
    const { path } = await fileWithSecrets(dir);
    await assert.rejects(
      ConfigStore.open({ path, env: { NETUNNEL_SECRET_KEY: KEY_B }, logger: quiet }),
      configInvalid('the secret key (NETUNNEL_SECRET_KEY) does not match'),
    );
    await fileWithSecrets(dir, { secret_key: KEY_B });
    await assert.rejects(ConfigStore.open({ path, env: {}, logger: quiet }), configInvalid('the secret key (the config file\'s "secret_key") does not match'));
    // Without any key a new one would be made; it cannot open old secrets, and is not saved.
    const { text } = await fileWithSecrets(dir);
    await assert.rejects(ConfigStore.open({ path, env: {}, logger: quiet }), configInvalid('a newly generated one, as the config has no "secret_key"'));
    assert.equal(await readFile(path, 'utf8'), text);
  }));

test('encrypted values from the environment are named by their variable', async () => {
  const a = new Fernet(KEY_A);
  const env = { NETUNNEL_HTTP_PROXY: JSON.stringify({ proxy_url: 'http://127.0.0.1:3128', username: a.encrypt('u'), password: a.encrypt('p') }) };
  await assert.rejects(
    ConfigStore.open({ env: { ...env, NETUNNEL_SECRET_KEY: KEY_B }, logger: quiet }),
    configInvalid('NETUNNEL_HTTP_PROXY, key "http_proxy.username": the secret key (NETUNNEL_SECRET_KEY) does not match'),
  );
  const store = await ConfigStore.open({ env: { ...env, NETUNNEL_SECRET_KEY: KEY_A }, logger: quiet });
  assert.equal(store.decryptSecret(store.config.http_proxy!.password!), 'p');
});
