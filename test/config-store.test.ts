import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import type { Logger } from 'pino';
import { NetunnelError } from '../common/errors.js';
import { Fernet } from '../common/fernet.js';
import { createConfigFile } from '../server/config/create-command.js';
import { DEFAULT_KEYS, defaultConfig } from '../server/config/defaults.js';
import type { ServerConfig } from '../server/config/defaults.js';
import { ENV_KEYS, envVarName } from '../server/config/env.js';
import { ConfigStore, STATELESS_WARNING } from '../server/config/store.js';
import { SAMPLE_VALUES, itemFor } from './fixtures/config-samples.js';
import { withTempDir } from './support/temp-dir.js';
import { configInvalid } from './support/config-assertions.js';

const KEY_A = '3vpPjEJ6pEckqFxQ5Vbtwa9pHw9c6gQUxS8NueEZQII=';
const KEY_B = Fernet.generateKey();

function capture(): { logger: Logger; messages: string[] } {
  const messages: string[] = [];
  const stream = { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) };
  return { logger: pino({ level: 'info' }, stream), messages };
}

const quiet = pino({ level: 'silent' });

function open(path: string | undefined, more: { env?: NodeJS.ProcessEnv; secretKey?: string; logger?: Logger } = {}) {
  return ConfigStore.open({ path, env: more.env ?? {}, secretKey: more.secretKey, logger: more.logger ?? quiet });
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

// ---- Creation and precedence ------------------------------------------------------------

test('a missing file is created with every default, in order, 4-space JSON, private', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'netunnel.conf');
    const store = await open(path);
    const text = await readFile(path, 'utf8');
    const saved = JSON.parse(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(saved), [...DEFAULT_KEYS, 'secret_key']);
    assert.deepEqual({ ...saved, secret_key: undefined }, { ...defaultConfig(), secret_key: undefined });
    assert.equal(text, `${JSON.stringify(saved, null, 4)}\n`);
    assert.ok(text.includes('\n    "allowed_tunnel_destinations": {\n        "127.0.0.1": "*"\n    },'));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(store.config, saved);
    assert.equal(store.stateless, false);
    assert.equal(store.path, path);
    assert.deepEqual(await readdir(dir), ['netunnel.conf']);
  }));

test('the defaults are the original six keys, then netunnel’s', () => {
  assert.deepEqual(defaultConfig(), {
    allowed_tunnel_destinations: { '127.0.0.1': '*' },
    http_proxy: null,
    http_proxy_test_url: 'https://google.com',
    peers: [],
    allow_unverified_ssl_peers: false,
    revision: 1,
    allowed_tunnel_entrances: { '127.0.0.1': '*', '::1': '*' },
    max_channels: 1000,
    max_tunnels_per_channel: 100,
    channel_connect_timeout: 30,
    static_tunnel_health_check_interval: 30,
  });
  assert.deepEqual(Object.keys(defaultConfig()).slice(0, 6), [
    'allowed_tunnel_destinations',
    'http_proxy',
    'http_proxy_test_url',
    'peers',
    'allow_unverified_ssl_peers',
    'revision',
  ]);
});

test('each NETUNNEL_* variable overrides its key and lands in a newly created file', () =>
  withTempDir(async (dir) => {
    for (const key of ENV_KEYS) {
      const path = join(dir, `${key}.conf`);
      const store = await open(path, { env: { [envVarName(key)]: JSON.stringify(SAMPLE_VALUES[key]) } });
      assert.deepEqual(store.config[key], SAMPLE_VALUES[key], key);
      const saved = await readJson(path);
      assert.deepEqual(saved[key], SAMPLE_VALUES[key], key);
      for (const other of ENV_KEYS.filter((k) => k !== key)) {
        assert.deepEqual(saved[other], defaultConfig()[other], `${key} left ${other} alone`);
      }
    }
  }));

test('the file beats the environment, and replaces a default map entirely', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'c.conf');
    await writeFile(path, JSON.stringify({ max_channels: 5, allowed_tunnel_destinations: { '10.1.1.1': '22' } }));
    const env = {
      NETUNNEL_MAX_CHANNELS: '9',
      NETUNNEL_ALLOWED_TUNNEL_DESTINATIONS: '{"127.0.0.1": "80", "10.2.2.2": "*"}',
      NETUNNEL_REVISION: '4',
    };
    const store = await open(path, { env });
    assert.equal(store.config.max_channels, 5);
    assert.deepEqual(store.config.allowed_tunnel_destinations, { '10.1.1.1': '22' });
    assert.equal(store.config.revision, 4, 'env still fills keys the file lacks');
    const saved = await readJson(path);
    assert.equal(saved.max_channels, 5);
    assert.equal(saved.revision, 4);
  }));

test('an original NETunnel file gets the new keys added; an up-to-date file is not rewritten', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'orig.conf');
    const original = { ...defaultConfig(), secret_key: KEY_A };
    for (const key of ['allowed_tunnel_entrances', 'max_channels', 'max_tunnels_per_channel', 'channel_connect_timeout', 'static_tunnel_health_check_interval']) {
      delete (original as Record<string, unknown>)[key];
    }
    await writeFile(path, JSON.stringify(original, null, 4));
    await open(path);
    const saved = await readJson(path);
    assert.deepEqual(Object.keys(saved), [...DEFAULT_KEYS, 'secret_key']);
    const inode = (await stat(path)).ino;
    await open(path);
    assert.equal((await stat(path)).ino, inode, 'identical content is left in place');
  }));

test('unknown keys are kept, and saved back after an update', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'u.conf');
    const extra = { note: 'set up by ops', future_feature: { enabled: true, list: [1, 2] } };
    await writeFile(path, JSON.stringify({ note: extra.note, max_channels: 3, future_feature: extra.future_feature }));
    const store = await open(path);
    assert.equal(store.config.note, extra.note);
    await store.update((draft) => {
      draft.max_channels = 4;
    });
    const saved = await readJson(path);
    assert.equal(saved.note, extra.note);
    assert.deepEqual(saved.future_feature, extra.future_feature);
    assert.equal(saved.max_channels, 4);
    // Default keys first (the original's layout), then the file's own keys in their order.
    assert.deepEqual(Object.keys(saved), [...DEFAULT_KEYS, 'note', 'future_feature', 'secret_key']);
  }));

// ---- Refusals ---------------------------------------------------------------------------

const BAD_FILES: [string, string, string[]][] = [
  ['not JSON', '{"max_channels": 5,', ['not valid JSON']],
  ['an array', '[1, 2]', ['must hold a JSON object', 'an array']],
  ['a string', '"hello"', ['must hold a JSON object', 'string']],
  ['null', 'null', ['must hold a JSON object', 'null']],
  ['empty', '', ['not valid JSON']],
  ['max_channels of the wrong type', '{"max_channels": "many"}', ['key "max_channels"', 'expected an integer', '"many"']],
  ['peers of the wrong type', '{"peers": {"name": "x"}}', ['key "peers"', 'expected an array']],
  ['a bad peer inside', '{"peers": [{"name": 1, "target_netunnel_url": "http://x"}]}', ['key "peers"', '/0/name']],
  ['secret_key of the wrong type', '{"secret_key": 12}', ['key "secret_key"', 'expected a string']],
  ['an invalid secret_key', '{"secret_key": "passphrase"}', ['key "secret_key"', 'netunnel-security generate-key']],
  ['two peers with one id', peersFile({ id: 1, name: 'a' }, { id: 1, name: 'b' }), ['key "peers"', 'two peers have the id 1']],
  ['two peers with one name', peersFile({ name: 'a' }, { name: 'a' }), ['key "peers"', 'two peers are named "a"']],
  [
    'two static tunnels of a peer with one id',
    peersFile({ name: 'a', static_tunnels: [{ id: 2, tunnel_remote_port: 22 }, { id: 2, tunnel_remote_port: 23 }] }),
    ['key "peers"', 'peer "a" has two static tunnels with the id 2'],
  ],
  [
    'two static tunnels on one entrance',
    peersFile(
      { name: 'a', static_tunnels: [{ tunnel_local_port: 20001, tunnel_remote_port: 22 }] },
      { name: 'b', static_tunnels: [{ tunnel_local_address: 'localhost', tunnel_local_port: 20001, tunnel_remote_port: 23 }] },
    ),
    ['key "peers"', 'two static tunnels have the local port 20001'],
  ],
];

function peersFile(...peers: object[]): string {
  return JSON.stringify({ peers: peers.map((peer) => ({ target_netunnel_url: 'http://127.0.0.1:1', ...peer })) });
}

test('a bad file is refused naming the file and key, and left byte-for-byte unchanged', () =>
  withTempDir(async (dir) => {
    for (const [what, content, fragments] of BAD_FILES) {
      const path = join(dir, 'bad.conf');
      await writeFile(path, content);
      await assert.rejects(open(path), configInvalid(path, ...fragments), what);
      assert.equal(await readFile(path, 'utf8'), content, what);
      assert.deepEqual(await readdir(dir), ['bad.conf'], what);
    }
  }));

test('a bad environment value is refused naming the variable; the file is untouched', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'env.conf');
    await assert.rejects(open(path, { env: { NETUNNEL_PEERS: '[oops' } }), configInvalid('NETUNNEL_PEERS', 'not valid JSON'));
    await assert.rejects(
      open(path, { env: { NETUNNEL_MAX_CHANNELS: 'abc' } }),
      configInvalid('NETUNNEL_MAX_CHANNELS: expected an integer, got "abc"'),
    );
    await assert.rejects(
      open(path, { env: { NETUNNEL_ALLOW_UNVERIFIED_SSL_PEERS: '"yes"' } }),
      configInvalid('NETUNNEL_ALLOW_UNVERIFIED_SSL_PEERS', 'boolean'),
    );
    assert.deepEqual(await readdir(dir), []);
  }));

test('an unreadable config path is refused, not replaced', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'a-directory');
    await mkdir(path);
    await assert.rejects(open(path), configInvalid(path, 'cannot read'));
  }));

// ---- Stateless --------------------------------------------------------------------------

test('stateless mode writes nothing anywhere, and updates stay in memory', () =>
  withTempDir(async (dir) => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { logger, messages } = capture();
      const store = await open(undefined, { logger, env: { NETUNNEL_REVISION: '3' } });
      assert.equal(store.stateless, true);
      assert.equal(store.path, undefined);
      assert.equal(store.config.revision, 3);
      assert.ok(messages.includes('Generating default secret-key'));
      await store.update((draft) => {
        draft.max_channels = 2;
      });
      assert.equal(store.config.max_channels, 2);
      await store.factoryReset();
      assert.equal(store.config.max_channels, 1000);
      assert.deepEqual(await readdir(dir), []);
    } finally {
      process.chdir(cwd);
    }
  }));

test('the stateless warning is the original text', () => {
  assert.equal(STATELESS_WARNING, 'The server is running in stateless mode. Use --config-path to generate a config file');
});

// ---- Secret key -------------------------------------------------------------------------

test('a secret key is generated once, logged, saved, and stable across reopening', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'k.conf');
    const first = capture();
    const store = await open(path, { logger: first.logger });
    assert.ok(first.messages.includes('Generating default secret-key'));
    const key = (await readJson(path)).secret_key;
    assert.equal(typeof key, 'string');
    assert.equal(store.config.secret_key, key);
    const token = store.encryptSecret('proxy-password');

    const second = capture();
    const reopened = await open(path, { logger: second.logger });
    assert.ok(!second.messages.includes('Generating default secret-key'));
    assert.equal((await readJson(path)).secret_key, key);
    assert.equal(reopened.decryptSecret(token), 'proxy-password');
    assert.equal(new Fernet(key as string).decryptString(token), 'proxy-password');
  }));

test('a file holding the secret key that others can read is warned about; one we create is 0600', () =>
  withTempDir(async (dir) => {
    const created = join(dir, 'new.conf');
    const unwarned = capture();
    await open(created, { logger: unwarned.logger });
    assert.equal((await stat(created)).mode & 0o777, 0o600);
    assert.ok(!unwarned.messages.some((m) => /can be read by other users/.test(m)));

    const copied = join(dir, 'copied.conf');
    await writeFile(copied, '{}', { mode: 0o644 });
    const loud = capture();
    await open(copied, { logger: loud.logger });
    assert.equal((await stat(copied)).mode & 0o777, 0o644, 'the mode an operator chose is kept');
    assert.ok(loud.messages.some((m) => m === `Config file ${copied} holds the secret key and can be read by other users (mode 0644); chmod 600 it`), loud.messages.join('\n'));
  }));

test('a key from the flag or the env is used, never written; the flag beats the env beats the file', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'ext.conf');
    const viaFlag = await open(path, { secretKey: KEY_A, env: { NETUNNEL_SECRET_KEY: KEY_B } });
    assert.equal(new Fernet(KEY_A).decryptString(viaFlag.encryptSecret('s')), 's');
    assert.ok(!('secret_key' in (await readJson(path))));
    assert.ok(!(await readFile(path, 'utf8')).includes(KEY_A));

    const viaEnv = await open(path, { env: { NETUNNEL_SECRET_KEY: KEY_B } });
    assert.equal(new Fernet(KEY_B).decryptString(viaEnv.encryptSecret('s')), 's');
    assert.ok(!(await readFile(path, 'utf8')).includes(KEY_B));

    await viaEnv.update((draft) => {
      draft.secret_key = KEY_A;
    });
    const fromEnvOverFile = await open(path, { env: { NETUNNEL_SECRET_KEY: KEY_B } });
    assert.equal(new Fernet(KEY_B).decryptString(fromEnvOverFile.encryptSecret('s')), 's');
    const fromFile = await open(path);
    assert.equal(new Fernet(KEY_A).decryptString(fromFile.encryptSecret('s')), 's');
    assert.equal(fromFile.fernet.decryptString(new Fernet(KEY_A).encrypt('t')), 't');
  }));

test('an invalid key is refused with a hint, naming where it came from', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'inv.conf');
    await assert.rejects(open(path, { secretKey: 'my passphrase' }), configInvalid('--secret-key', 'netunnel-security generate-key'));
    await assert.rejects(
      open(path, { env: { NETUNNEL_SECRET_KEY: 'short' } }),
      configInvalid('NETUNNEL_SECRET_KEY', 'netunnel-security generate-key'),
    );
    await assert.rejects(open(undefined, { secretKey: 'x' }), configInvalid('--secret-key'));
    assert.deepEqual(await readdir(dir), [], 'nothing written before the key is known good');
  }));

test('decrypting a foreign token fails with INVALID_TOKEN', async () => {
  const store = await open(undefined, { secretKey: KEY_A });
  const foreign = new Fernet(KEY_B).encrypt('x');
  assert.throws(() => store.decryptSecret(foreign), { code: 'INVALID_TOKEN' });
});

// ---- Updates ----------------------------------------------------------------------------

test('updates apply, save, and run one at a time in call order', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'q.conf');
    const store = await open(path);
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.update(async (draft) => {
          const seen = typeof draft.counter === 'number' ? draft.counter : 0;
          await sleep(i % 3);
          draft.counter = seen + 1;
          order.push(i);
        }),
      ),
    );
    assert.equal(store.config.counter, 20);
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i));
    assert.equal((await readJson(path)).counter, 20);
  }));

test('the current config is read-only; changes go through update()', async () => {
  const store = await open(undefined);
  assert.throws(() => {
    (store.config as Record<string, unknown>).max_channels = 1;
  }, TypeError);
  assert.throws(() => {
    (store.config.allowed_tunnel_destinations as Record<string, string>)['0.0.0.0'] = '*';
  }, TypeError);
});

test('an invalid update is refused and changes nothing', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'v.conf');
    const store = await open(path);
    const before = await readFile(path, 'utf8');
    await assert.rejects(
      store.update((draft) => {
        draft.max_channels = 'lots' as unknown as number;
      }),
      configInvalid('key "max_channels"', 'expected an integer'),
    );
    await assert.rejects(
      store.update((draft) => {
        delete (draft as Record<string, unknown>).peers;
      }),
      configInvalid('key "peers"', 'missing'),
    );
    await assert.rejects(
      store.update(() => {
        throw new Error('mutator failed');
      }),
      /mutator failed/,
    );
    assert.equal(store.config.max_channels, 1000);
    assert.deepEqual(store.config.peers, []);
    assert.equal(await readFile(path, 'utf8'), before);
    await store.update((draft) => {
      draft.revision = 2;
    });
    assert.equal(store.config.revision, 2, 'the queue survives failures');
  }));

test('the secret key in use cannot be changed or dropped by an update', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'sk.conf');
    const store = await open(path);
    const key = store.config.secret_key;
    const changes = [
      (draft: ServerConfig) => void delete draft.secret_key,
      (draft: ServerConfig) => void (draft.secret_key = KEY_A),
    ];
    for (const change of changes) await assert.rejects(store.update(change), configInvalid('secret_key'));
    assert.equal(store.config.secret_key, key);
    assert.equal((await readJson(path)).secret_key, key);
  }));

test('memory holds what the file holds: undefined values are dropped as JSON drops them', async () => {
  const store = await open(undefined);
  await store.update((draft) => {
    draft.gone = undefined;
  });
  assert.ok(!('gone' in store.config));
});

test('a failed save throws CONFIG_SAVE_FAILED and keeps the old file and the old config', () =>
  withTempDir(async (dir) => {
    const folder = join(dir, 'etc');
    await mkdir(folder);
    const path = join(folder, 'netunnel.conf');
    const store = await open(path);
    const before = await readFile(path, 'utf8');
    // Root ignores permissions, but no one can write into a folder that is not there.
    const moved = join(dir, 'etc-moved');
    await rename(folder, moved);
    await assert.rejects(
      store.update((draft) => {
        draft.max_channels = 1;
      }),
      (err: unknown) => {
        assert.ok(err instanceof NetunnelError);
        assert.equal(err.code, 'CONFIG_SAVE_FAILED');
        assert.equal(err.statusCode, 500);
        assert.ok(err.message.includes(path), err.message);
        assert.ok(err.message.includes('ENOENT'), err.message);
        return true;
      },
    );
    assert.equal(store.config.max_channels, 1000);
    assert.equal(await readFile(join(moved, 'netunnel.conf'), 'utf8'), before);
    assert.deepEqual(await readdir(moved), ['netunnel.conf']);
    const keyBefore = store.config.secret_key;
    const token = store.encryptSecret('kept');
    await assert.rejects(store.factoryReset(), { code: 'CONFIG_SAVE_FAILED' });
    assert.equal(store.config.secret_key, keyBefore);
    assert.equal(store.config.max_channels, 1000);
    assert.equal(store.decryptSecret(token), 'kept', 'the old key is still in use');
    await rename(moved, folder);
    await store.update((draft) => {
      draft.max_channels = 1;
    });
    assert.equal((await readJson(path)).max_channels, 1);
  }));

// ---- Factory reset ----------------------------------------------------------------------

test('factory reset: defaults and env again, unknown keys gone, a new key', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'r.conf');
    const env: NodeJS.ProcessEnv = { NETUNNEL_REVISION: '5' };
    const store = await open(path, { env });
    const oldKey = store.config.secret_key;
    const token = store.encryptSecret('secret');
    await store.update((draft) => {
      draft.peers = SAMPLE_VALUES.peers as typeof draft.peers;
      draft.max_channels = 1;
      draft.custom = 'x';
    });
    env.NETUNNEL_MAX_TUNNELS_PER_CHANNEL = '9';
    const { logger, messages } = capture();
    const reset = await open(path, { env, logger });
    assert.equal(messages.length, 0);
    await reset.factoryReset();
    const saved = await readJson(path);
    assert.deepEqual(Object.keys(saved), [...DEFAULT_KEYS, 'secret_key']);
    assert.deepEqual(
      { ...saved, secret_key: undefined },
      { ...defaultConfig(), revision: 5, max_tunnels_per_channel: 9, secret_key: undefined },
    );
    assert.notEqual(saved.secret_key, oldKey);
    assert.equal(reset.config.secret_key, saved.secret_key);
    assert.throws(() => reset.decryptSecret(token), { code: 'INVALID_TOKEN' });
    assert.equal(reset.decryptSecret(reset.encryptSecret('new')), 'new');
  }));

test('factory reset keeps a key that came from the flag, and still writes none', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'rf.conf');
    const store = await open(path, { secretKey: KEY_A });
    await store.update((draft) => {
      draft.max_channels = 1;
    });
    await store.factoryReset();
    const saved = await readJson(path);
    assert.ok(!('secret_key' in saved));
    assert.equal(saved.max_channels, 1000);
    assert.equal(new Fernet(KEY_A).decryptString(store.encryptSecret('s')), 's');
  }));

// ---- config create ----------------------------------------------------------------------

test('config create writes a full config, making parent folders', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'a', 'b', 'netunnel.conf');
    await createConfigFile(path, '{"max_channels": 12, "extra": true}');
    const saved = await readJson(path);
    assert.deepEqual(saved, { ...defaultConfig(), max_channels: 12, extra: true });
    assert.ok(!('secret_key' in saved));
    const store = await open(path);
    assert.equal(store.config.max_channels, 12);
  }));

test('config create works with a bare file name', () =>
  withTempDir(async (dir) => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await createConfigFile('netunnel.conf');
      assert.deepEqual(await readJson(join(dir, 'netunnel.conf')), defaultConfig());
    } finally {
      process.chdir(cwd);
    }
  }));

test('config create applies NETUNNEL_* below the custom changes', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'env.conf');
    process.env.NETUNNEL_REVISION = '7';
    process.env.NETUNNEL_MAX_CHANNELS = '8';
    try {
      await createConfigFile(path, '{"max_channels": 9}');
    } finally {
      delete process.env.NETUNNEL_REVISION;
      delete process.env.NETUNNEL_MAX_CHANNELS;
    }
    const saved = await readJson(path);
    assert.equal(saved.revision, 7);
    assert.equal(saved.max_channels, 9);
  }));

test('config create refuses bad custom changes with one clear line, writing nothing', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'bad.conf');
    const cases: [string, string[]][] = [
      ['{"max_channels": ', ['--custom-changes', 'not valid JSON']],
      ['[1]', ['--custom-changes', 'JSON object', 'an array']],
      ['{"peers": 5}', ['--custom-changes', 'key "peers"', 'expected an array']],
      ['{"secret_key": "nope"}', ['--custom-changes', 'key "secret_key"']],
    ];
    for (const [json, fragments] of cases) {
      await assert.rejects(createConfigFile(path, json), (err: unknown) => {
        configInvalid(...fragments)(err);
        assert.ok(!(err as Error).message.includes('\n'));
        return true;
      });
    }
    assert.deepEqual(await readdir(dir), []);
  }));

test('config create stores proxy credentials encrypted, under a key it writes or the env gives', () =>
  withTempDir(async (dir) => {
    const proxy = { proxy_url: 'http://127.0.0.1:3128', username: 'alice', password: 'pw' };
    const path = join(dir, 'proxy.conf');
    await createConfigFile(path, JSON.stringify({ http_proxy: proxy }));
    const saved = (await readJson(path)) as unknown as ServerConfig;
    const fernet = new Fernet(saved.secret_key!);
    assert.deepEqual([fernet.decryptString(saved.http_proxy!.username!), fernet.decryptString(saved.http_proxy!.password!)], ['alice', 'pw']);
    const store = await open(path);
    assert.equal(store.decryptSecret(store.config.http_proxy!.username!), 'alice');
    // An env key is used and never written; a value already sealed with it stays as it is.
    const sealed = new Fernet(KEY_A).encrypt('bob');
    process.env.NETUNNEL_SECRET_KEY = KEY_A;
    try {
      await createConfigFile(path, JSON.stringify({ http_proxy: { ...proxy, username: sealed } }));
    } finally {
      delete process.env.NETUNNEL_SECRET_KEY;
    }
    const withEnvKey = (await readJson(path)) as unknown as ServerConfig;
    assert.ok(!('secret_key' in withEnvKey));
    assert.equal(withEnvKey.http_proxy!.username, sealed);
    assert.equal(new Fernet(KEY_A).decryptString(withEnvKey.http_proxy!.password!), 'pw');
  }));

test('config create under a path that cannot be made fails with one line, and returns', async () => {
  // Node 20's recursive mkdir spins forever on this path.
  await assert.rejects(createConfigFile('/proc/no-such-dir/netunnel.conf'), { code: 'CONFIG_SAVE_FAILED', message: /cannot write config file .*ENOENT/ });
});

test('plain-text proxy credentials in a hand-written file are encrypted on start', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'hand.conf');
    await writeFile(path, JSON.stringify({ secret_key: KEY_A, http_proxy: { proxy_url: 'http://127.0.0.1:3128', username: 'alice', password: 'pw' } }));
    const { logger, messages } = capture();
    const store = await open(path, { logger });
    assert.ok(messages.includes('http_proxy.username and http_proxy.password given in plain text: encrypted with the secret key'), messages.join('\n'));
    const saved = (await readJson(path)) as unknown as ServerConfig;
    assert.equal(new Fernet(KEY_A).decryptString(saved.http_proxy!.username!), 'alice');
    assert.equal(store.decryptSecret(store.config.http_proxy!.password!), 'pw');
  }));

// ---- Crash safety -----------------------------------------------------------------------

const WRITER = fileURLToPath(new URL('./fixtures/config-writer.js', import.meta.url));

async function runAndKill(path: string, afterMs: number): Promise<void> {
  const child = spawn(process.execPath, [WRITER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  try {
    await waitForReady(child.stdout);
    await sleep(afterMs);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

function waitForReady(stdout: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('writer not ready after 15 s')), 15_000);
    stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    stdout.on('end', () => {
      clearTimeout(timer);
      reject(new Error(`writer ended before it was ready: ${seen}`));
    });
  });
}

function assertComplete(saved: Record<string, unknown>): number {
  const counter = saved.crash_counter ?? 0;
  const items = saved.crash_items ?? [];
  assert.equal(typeof counter, 'number');
  assert.ok(Array.isArray(items));
  assert.equal(items.length, counter);
  items.forEach((item, k) => assert.equal(item, itemFor(k)));
  assert.deepEqual(Object.keys(saved).slice(0, DEFAULT_KEYS.length), [...DEFAULT_KEYS]);
  return counter as number;
}

test('a writer killed at random moments always leaves a complete config', { timeout: 120_000 }, () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'crash.conf');
    let last = 0;
    for (let round = 0; round < 5; round++) {
      await runAndKill(path, 50 + Math.floor(Math.random() * 250));
      const counter = assertComplete(await readJson(path));
      assert.ok(counter >= last, `round ${round}: counter went back from ${last} to ${counter}`);
      last = counter;
    }
    assert.ok(last > 0, 'the writer made progress');
    const store = await open(path);
    assert.equal(assertComplete({ ...store.config }), last);
    assert.deepEqual(await readdir(dir), ['crash.conf'], 'temp files of killed writers are cleaned up on open');
  }));
