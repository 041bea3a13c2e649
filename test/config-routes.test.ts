import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { MASKED_SECRET } from '../common/protocol.js';
import type { ErrorBody } from '../common/protocol.js';
import { DEFAULT_KEYS, defaultConfig } from '../server/config/defaults.js';
import { ConfigStore } from '../server/config/store.js';
import { checkProxy } from '../server/http-proxy.js';
import { NetunnelServer } from '../server/server.js';
import { startProxy, startTarget } from './support/http-proxy.js';
import { call, connectClient, silentLogger } from './support/in-process.js';
import { startServerProcess } from './support/processes.js';
import { freePort, listen, waitUntil } from './support/sockets.js';

interface Ctx {
  server: NetunnelServer;
  config: ConfigStore;
  path: string;
  dir: string;
}

/** A server on a real config file in a temp folder, unaffected by this machine's NETUNNEL_* variables. */
async function withServer(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-config-routes-'));
  const path = join(dir, 'netunnel.conf');
  const config = await ConfigStore.open({ path, env: {}, logger: silentLogger() });
  const server = await NetunnelServer.start({ host: '127.0.0.1', port: 0, logger: silentLogger(), config });
  try {
    await fn({ server, config, path, dir });
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function withProxyAndTarget(
  credentials: { username: string; password: string } | undefined,
  fn: (proxy: Awaited<ReturnType<typeof startProxy>>, target: Awaited<ReturnType<typeof startTarget>>) => Promise<void>,
): Promise<void> {
  const proxy = await startProxy(credentials);
  const target = await startTarget();
  try {
    await fn(proxy, target);
  } finally {
    await proxy.close();
    await target.close();
  }
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

function postProxy(server: NetunnelServer, body: unknown) {
  return call(server, 'POST', '/config/http-proxy', body);
}

function assertRefused(answer: { status: number; body: unknown }, status: number, code: string, message: RegExp | string): void {
  assert.equal(answer.status, status, JSON.stringify(answer.body));
  const body = answer.body as ErrorBody;
  assert.equal(body.code, code);
  if (typeof message === 'string') assert.equal(body.error, message);
  else assert.match(body.error, message);
}

/** Runs `change` and checks that neither the live config nor the file moved. */
async function assertNothingChanged({ server, config, path }: Ctx, change: () => Promise<void>): Promise<void> {
  const before = { file: await readFile(path, 'utf8'), config: structuredClone(config.config), answer: await call(server, 'GET', '/config/http-proxy') };
  await change();
  assert.equal(await readFile(path, 'utf8'), before.file, 'the file is unchanged');
  assert.deepEqual(config.config, before.config, 'the live config is unchanged');
  assert.deepEqual((await call(server, 'GET', '/config/http-proxy')).body, before.answer.body);
}

describe('GET/POST /config/http-proxy', () => {
  test('GET answers {} while no proxy is set', () =>
    withServer(async ({ server }) => {
      const answer = await call(server, 'GET', '/config/http-proxy');
      assert.equal(answer.status, 200);
      assert.match(answer.type, /^application\/json/);
      assert.deepEqual(answer.body, {});
    }));

  test('a proxy without credentials is checked through the proxy, then saved', () =>
    withServer((ctx) =>
      withProxyAndTarget(undefined, async (proxy, target) => {
        const answer = await postProxy(ctx.server, { proxy_url: proxy.url, test_url: `${target.url}/check` });
        const expected = { proxy_url: proxy.url, username: null, password: null };
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(answer.body, expected);
        assert.deepEqual(proxy.seen, [`GET ${target.url}/check`], 'the proxy carried the check');
        assert.equal(target.via.length, 1);
        assert.match(target.via[0]!, /proxy\//, 'the target got it from the proxy');
        assert.deepEqual((await call(ctx.server, 'GET', '/config/http-proxy')).body, expected);
        assert.deepEqual((await readJson(ctx.path)).http_proxy, expected);
      }),
    ));

  test('without test_url the check fetches the config’s http_proxy_test_url', () =>
    withServer((ctx) =>
      withProxyAndTarget(undefined, async (proxy, target) => {
        await ctx.config.update((draft) => void (draft.http_proxy_test_url = `${target.url}/default`));
        const answer = await postProxy(ctx.server, { proxy_url: proxy.url });
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(proxy.seen, [`GET ${target.url}/default`]);
      }),
    ));

  test('the check follows redirects, as the original’s does (its default test URL redirects)', () =>
    withServer((ctx) =>
      withProxyAndTarget(undefined, async (proxy, target) => {
        const answer = await postProxy(ctx.server, { proxy_url: proxy.url, test_url: `${target.url}/redirect` });
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(proxy.seen, [`GET ${target.url}/redirect`, `GET ${target.url}/`]);
      }),
    ));

  test('credentials: sent to the proxy, masked on read, Fernet tokens in the file', () =>
    withServer((ctx) =>
      withProxyAndTarget({ username: 'alice', password: 's3cr3t-pa55' }, async (proxy, target) => {
        const answer = await postProxy(ctx.server, { proxy_url: proxy.url, username: 'alice', password: 's3cr3t-pa55', test_url: target.url });
        const masked = { proxy_url: proxy.url, username: MASKED_SECRET, password: MASKED_SECRET };
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(answer.body, masked);
        assert.equal(proxy.authorized, 1, 'the proxy accepted the credentials');
        assert.deepEqual((await call(ctx.server, 'GET', '/config/http-proxy')).body, masked);
        const text = await readFile(ctx.path, 'utf8');
        assert.ok(!text.includes('alice') && !text.includes('s3cr3t-pa55'), 'no credential in clear in the file');
        const stored = (JSON.parse(text) as { http_proxy: { proxy_url: string; username: string; password: string } }).http_proxy;
        assert.equal(stored.proxy_url, proxy.url);
        assert.match(stored.username, /^gAAAAA/);
        assert.match(stored.password, /^gAAAAA/);
        assert.equal(ctx.config.decryptSecret(stored.username), 'alice');
        assert.equal(ctx.config.decryptSecret(stored.password), 's3cr3t-pa55');
      }),
    ));

  test('wrong or missing credentials: 400 naming the 407, nothing changed', () =>
    withServer((ctx) =>
      withProxyAndTarget({ username: 'alice', password: 'right' }, async (proxy, target) => {
        await assertNothingChanged(ctx, async () => {
          const wrong = await postProxy(ctx.server, { proxy_url: proxy.url, username: 'alice', password: 'wrong', test_url: target.url });
          assertRefused(wrong, 400, 'PROXY_CHECK_FAILED', 'HTTP proxy check failed: the proxy refused the credentials (407)');
          const none = await postProxy(ctx.server, { proxy_url: proxy.url, test_url: target.url });
          assertRefused(none, 400, 'PROXY_CHECK_FAILED', /the proxy requires credentials \(407\)/);
        });
        assert.equal(proxy.seen.length, 2, 'both checks reached the proxy');
        assert.equal(proxy.authorized, 0);
        assert.deepEqual(target.seen, []);
      }),
    ));

  test('an https test URL goes through CONNECT: a refused CONNECT is a 400 with its status', () =>
    withServer((ctx) =>
      withProxyAndTarget({ username: 'alice', password: 'right' }, async (proxy, target) => {
        const closedPort = await freePort();
        await assertNothingChanged(ctx, async () => {
          const wrong = await postProxy(ctx.server, { proxy_url: proxy.url, username: 'alice', password: 'wrong', test_url: `https://127.0.0.1:${target.port}/` });
          assertRefused(wrong, 400, 'PROXY_CHECK_FAILED', 'HTTP proxy check failed: the proxy refused the credentials (407)');
          const closed = await postProxy(ctx.server, { proxy_url: proxy.url, username: 'alice', password: 'right', test_url: `https://127.0.0.1:${closedPort}/` });
          assertRefused(closed, 400, 'PROXY_CHECK_FAILED', `HTTP proxy check failed: the proxy could not open a tunnel to 127.0.0.1:${closedPort} (500)`);
        });
        assert.deepEqual(proxy.seen, [`CONNECT 127.0.0.1:${target.port}`, `CONNECT 127.0.0.1:${closedPort}`]);
      }),
    ));

  test('an unreachable proxy: 400 with the reason, nothing changed', () =>
    withServer(async (ctx) => {
      const proxyUrl = `http://127.0.0.1:${await freePort()}`;
      await assertNothingChanged(ctx, async () => {
        const answer = await postProxy(ctx.server, { proxy_url: proxyUrl, test_url: 'http://127.0.0.1:4041/' });
        assertRefused(answer, 400, 'PROXY_CHECK_FAILED', new RegExp(`cannot connect to the proxy ${proxyUrl}: .*ECONNREFUSED`));
      });
    }));

  test('a test URL answering non-2xx through the proxy: 400 with its status', () =>
    withServer((ctx) =>
      withProxyAndTarget(undefined, async (proxy, target) => {
        await assertNothingChanged(ctx, async () => {
          const answer = await postProxy(ctx.server, { proxy_url: proxy.url, test_url: `${target.url}/status/404` });
          assertRefused(answer, 400, 'PROXY_CHECK_FAILED', `HTTP proxy check failed: the test URL ${target.url}/status/404 answered 404 through the proxy`);
        });
        assert.deepEqual(target.seen, ['GET /status/404']);
      }),
    ));

  test('check_proxy false saves without contacting anything', () =>
    withServer((ctx) =>
      withProxyAndTarget(undefined, async (proxy) => {
        const answer = await postProxy(ctx.server, { proxy_url: proxy.url, username: 'u', password: 'p', test_url: 'http://127.0.0.1:4041/', check_proxy: false });
        assert.equal(answer.status, 200, answer.text);
        assert.deepEqual(answer.body, { proxy_url: proxy.url, username: MASKED_SECRET, password: MASKED_SECRET });
        assert.deepEqual(proxy.seen, []);
      }),
    ));

  test('proxy_url null removes the proxy', () =>
    withServer(async (ctx) => {
      assert.equal((await postProxy(ctx.server, { proxy_url: 'http://127.0.0.1:3128', username: 'u', password: 'p', check_proxy: false })).status, 200);
      const answer = await postProxy(ctx.server, { proxy_url: null });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, {});
      assert.deepEqual((await call(ctx.server, 'GET', '/config/http-proxy')).body, {});
      assert.equal((await readJson(ctx.path)).http_proxy, null);
    }));

  test('bad requests are 400s that name the problem, and change nothing', () =>
    withServer(async (ctx) => {
      const half = 'HTTP proxy authentication should include both username and password';
      const cases: Array<[unknown, RegExp | string]> = [
        [{ proxy_url: 'http://127.0.0.1:3128', username: 'u', check_proxy: false }, half],
        [{ proxy_url: 'http://127.0.0.1:3128', password: 'p', check_proxy: false }, half],
        [{ proxy_url: 'http://127.0.0.1:3128', username: '', password: 'p', check_proxy: false }, half],
        [{ username: 'u', password: 'p' }, /missing 'proxy_url'/],
        [{}, /missing 'proxy_url'/],
        [{ proxy_url: 'http://127.0.0.1:3128', bogus: 1 }, /unknown field 'bogus'/],
        [{ proxy_url: 'not a url', check_proxy: false }, /proxy_url is not a valid URL/],
        [{ proxy_url: 'socks5://127.0.0.1:1080', check_proxy: false }, /proxy_url must be an http:\/\/ URL/],
        // Tunnels speak plain HTTP to the proxy: a TLS one would pass the check and carry nothing.
        [{ proxy_url: 'https://127.0.0.1:3128', check_proxy: false }, /proxy_url must be an http:\/\/ URL, got "https:/],
        [{ proxy_url: 'http://u:p@127.0.0.1:3128', check_proxy: false }, /must not hold credentials/],
        [{ proxy_url: 'http://127.0.0.1:3128', test_url: 'ftp://x' }, /test_url must be an http/],
        [{ proxy_url: 'http://127.0.0.1:3128', check_proxy: 'maybe' }, /'check_proxy' must be boolean/],
      ];
      await assertNothingChanged(ctx, async () => {
        for (const [body, message] of cases) assertRefused(await postProxy(ctx.server, body), 400, 'BAD_REQUEST', message);
      });
    }));

  test('a save that fails is a 500 saying so; memory and file stay as they were', async (t) =>
    withServer(async (ctx) => {
      if (!(await makeReadOnly(ctx.dir))) return t.skip('cannot make a folder read-only here');
      try {
        await assertNothingChanged(ctx, async () => {
          const answer = await postProxy(ctx.server, { proxy_url: 'http://127.0.0.1:3128', check_proxy: false });
          assertRefused(answer, 500, 'CONFIG_SAVE_FAILED', new RegExp(`^cannot save config file ${ctx.path}: `));
        });
      } finally {
        await makeWritable(ctx.dir);
      }
    }));

  test('the proxy check gives up after its timeout', async () => {
    const silent = await listen(() => {});
    try {
      await assert.rejects(checkProxy({ url: `http://127.0.0.1:${silent.port}` }, 'http://127.0.0.1:4041/', 200), {
        code: 'PROXY_CHECK_FAILED',
        message: 'HTTP proxy check failed: no answer from http://127.0.0.1:4041/ through the proxy within 0.2 s',
      });
    } finally {
      await silent.close();
    }
  });
});

const execFileAsync = promisify(execFile);

/** Root ignores permissions; the immutable attribute stops it too. Resolves false when neither works. */
async function makeReadOnly(dir: string): Promise<boolean> {
  if (process.getuid?.() !== 0) {
    await chmod(dir, 0o555);
    return true;
  }
  return execFileAsync('chattr', ['+i', dir]).then(
    () => true,
    () => false,
  );
}

async function makeWritable(dir: string): Promise<void> {
  if (process.getuid?.() === 0) await execFileAsync('chattr', ['-i', dir]);
  else await chmod(dir, 0o755);
}

describe('POST /config/factory-reset', () => {
  test('restores the defaults with a new secret key, drops unknown keys, keeps clients by default', () =>
    withServer(async (ctx) => {
      const client = await connectClient(ctx.server);
      try {
        const oldKey = ctx.config.config.secret_key;
        await ctx.config.update((draft) => void Object.assign(draft, { max_channels: 7, operator_note: 'hi' }));
        assert.equal((await postProxy(ctx.server, { proxy_url: 'http://127.0.0.1:3128', username: 'u', password: 'p', check_proxy: false })).status, 200);
        // No body at all is fine, as is {}.
        const answer = await call(ctx.server, 'POST', '/config/factory-reset');
        assert.equal(answer.status, 200);
        assert.equal(answer.text, '');
        assert.match(answer.type, /^application\/json/);
        const saved = await readJson(ctx.path);
        assert.deepEqual(Object.keys(saved), [...DEFAULT_KEYS, 'secret_key']);
        assert.deepEqual({ ...saved, secret_key: undefined }, { ...defaultConfig(), secret_key: undefined });
        assert.equal(typeof saved.secret_key, 'string');
        assert.notEqual(saved.secret_key, oldKey);
        assert.deepEqual(ctx.config.config, saved);
        assert.deepEqual((await call(ctx.server, 'GET', '/config/http-proxy')).body, {});
        assert.equal((await call(ctx.server, 'POST', '/config/factory-reset', {})).status, 200);
        assert.equal(ctx.server.channels.size, 1, 'the client is still connected');
        await client.getVersion();
      } finally {
        await client.close();
      }
    }));

  test('disconnect_clients closes every channel', () =>
    withServer(async (ctx) => {
      const client = await connectClient(ctx.server);
      try {
        const closed = once(client, 'close');
        const answer = await call(ctx.server, 'POST', '/config/factory-reset', { disconnect_clients: true });
        assert.equal(answer.status, 200);
        await closed;
        await waitUntil(() => ctx.server.channels.size === 0, 5000, 'the channel to be gone');
      } finally {
        await client.close();
      }
    }));

  test('a bad body is a 400', () =>
    withServer(async (ctx) => {
      assertRefused(await call(ctx.server, 'POST', '/config/factory-reset', { disconnect_clients: 'yes' }), 400, 'BAD_REQUEST', /'disconnect_clients' must be boolean/);
      assertRefused(await call(ctx.server, 'POST', '/config/factory-reset', { bogus: true }), 400, 'BAD_REQUEST', /unknown field 'bogus'/);
    }));
});

describe('crash safety', () => {
  test('SIGKILL during a loop of proxy updates leaves a file with an update that was sent, and the server starts on it', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'netunnel-config-crash-'));
    const path = join(dir, 'netunnel.conf');
    const sent: string[] = [];
    let acknowledged = -1;
    try {
      for (let round = 0; round < 4; round++) {
        const server = await startServerProcess(['-c', path]);
        const writer = writeUntilDead(server.url, sent, (index) => (acknowledged = index));
        await sleep(100 + Math.random() * 300);
        server.child.kill('SIGKILL');
        await server.exited();
        await writer;
        const url = ((await readJson(path)).http_proxy as { proxy_url: string } | null)?.proxy_url ?? null;
        if (url === null) assert.equal(acknowledged, -1, `round ${round}: an acknowledged update was lost`);
        else {
          assert.ok(sent.indexOf(url) >= acknowledged, `round ${round}: ${url} is older than the last acknowledged update`);
        }
      }
      assert.ok(acknowledged >= 0, 'some updates were acknowledged');
      t.diagnostic(`${sent.length} updates sent, ${acknowledged + 1} acknowledged, over 4 kills`);
      const server = await startServerProcess(['-c', path]);
      try {
        const answer = await (await fetch(`${server.url}/config/http-proxy`)).json();
        assert.ok(sent.includes((answer as { proxy_url: string }).proxy_url));
        assert.deepEqual(await readdir(dir), ['netunnel.conf'], 'temp files of killed writers are cleaned up');
      } finally {
        await server.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Posts distinct proxy URLs one after another until the server stops answering. */
async function writeUntilDead(serverUrl: string, sent: string[], onAcknowledged: (index: number) => void): Promise<void> {
  for (;;) {
    const index = sent.length;
    // Distinct valid ports, so every update is a distinct state.
    const url = `http://127.0.0.1:${1024 + index}`;
    sent.push(url);
    let answer: { status: number; text: string };
    try {
      const response = await fetch(`${serverUrl}/config/http-proxy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ proxy_url: url, check_proxy: false }),
      });
      answer = { status: response.status, text: await response.text() };
    } catch {
      return;
    }
    assert.equal(answer.status, 200, answer.text);
    onAcknowledged(index);
  }
}

