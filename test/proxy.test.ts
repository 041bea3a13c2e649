import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProxy } from './support/http-proxy.js';
import type { TestProxy } from './support/http-proxy.js';
import { CLIENT_BIN, spawnNode, startClientProcess, startServerProcess } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { echoServer, exchange, randomBytes, sha256 } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';
import { hasTinyproxy, startTinyproxy, TINYPROXY_BIN } from './support/tinyproxy.js';

const KiB = 1024;
const CREDENTIALS = { username: 'tunnel-user', password: 's3cret-Pa55' };
const credentialArgs = ['--proxy-username', CREDENTIALS.username, '--proxy-password', CREDENTIALS.password];

describe('tunnels through an HTTP proxy (the npm proxy package)', () => {
  let server: ServerProcess;
  let echo: TestServer;

  before(async () => {
    server = await startServerProcess();
    echo = await echoServer();
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  const tunnelTo = (reverse: boolean) =>
    reverse ? ['-s', server.url, '-r', '--local-port', String(echo.port), '--remote-port', '0'] : ['-s', server.url, '--remote-port', String(echo.port)];
  const connectsToServer = (proxy: TestProxy) => proxy.seen.filter((line) => line === `CONNECT 127.0.0.1:${server.port}`).length;

  for (const reverse of [false, true]) {
    for (const auth of [false, true]) {
      const kind = `${reverse ? 'reverse' : 'forward'} tunnel${auth ? ' with Basic auth' : ''}`;
      test(`${kind}: REST in absolute form and every websocket by CONNECT`, async () => {
        const proxy = await startProxy(auth ? CREDENTIALS : undefined);
        // Debug logging on: the credentials must not show up in it either.
        const client = await startClientProcess([...tunnelTo(reverse), '-d', '--proxy-url', proxy.url, ...(auth ? credentialArgs : [])]);
        try {
          const payload = randomBytes(64 * KiB);
          const echoed = await exchange(client.entrancePort, payload, 20_000);
          assert.equal(sha256(echoed), sha256(payload));
          assert.ok(proxy.seen.includes(`POST http://127.0.0.1:${server.port}/channels`), proxy.seen.join('\n'));
          // The channel websocket, then a data websocket (forward: the spare, then its replacement).
          assert.ok(connectsToServer(proxy) >= (reverse ? 2 : 3), proxy.seen.join('\n'));
          assert.ok(!proxy.seen.some((line) => line.startsWith('GET ') && line.includes('/connect')), 'no websocket went in absolute form');
          if (auth) assert.ok(proxy.authorized >= connectsToServer(proxy) + 1);
          const token = Buffer.from(`${CREDENTIALS.username}:${CREDENTIALS.password}`).toString('base64');
          assert.ok(!client.output().includes(CREDENTIALS.password) && !client.output().includes(token), 'credentials in the output');
        } finally {
          await client.stop();
          await proxy.close();
        }
      });
    }
  }

  test('wrong proxy credentials: one line, exit code 1, no retry, no password', async () => {
    const proxy = await startProxy(CREDENTIALS);
    try {
      for (const args of [['--proxy-username', CREDENTIALS.username, '--proxy-password', 'wrong-password'], []]) {
        const client = spawnNode(CLIENT_BIN, [...tunnelTo(false), '--proxy-url', proxy.url, ...args]);
        assert.equal(await client.exited(), 1);
        assert.equal(client.output(), 'netunnel-client: the proxy refused the credentials (407 Proxy Authentication Required)\n');
      }
      assert.equal(proxy.authorized, 0);
    } finally {
      await proxy.close();
    }
  });

  test('credentials in the proxy URL work too, and never show in messages', async () => {
    const proxy = await startProxy(CREDENTIALS);
    const withUserInfo = proxy.url.replace('http://', `http://${CREDENTIALS.username}:${CREDENTIALS.password}@`);
    try {
      const client = await startClientProcess([...tunnelTo(false), '--proxy-url', withUserInfo]);
      try {
        const payload = randomBytes(16 * KiB);
        assert.equal(sha256(await exchange(client.entrancePort, payload, 20_000)), sha256(payload));
        assert.ok(connectsToServer(proxy) >= 2 && proxy.authorized >= 3);
      } finally {
        await client.stop();
      }
      const refused = spawnNode(CLIENT_BIN, [...tunnelTo(false), '--proxy-url', withUserInfo.replace(CREDENTIALS.password, 'wrong-secret')]);
      assert.equal(await refused.exited(), 1);
      assert.equal(refused.output(), 'netunnel-client: the proxy refused the credentials (407 Proxy Authentication Required)\n');
    } finally {
      await proxy.close();
    }
  });

  test('an unreachable proxy is a clear line (retried unless --no-reconnect)', async () => {
    const gone = await echoServer();
    await gone.close();
    const proxyUrl = `http://127.0.0.1:${gone.port}`;
    const once = spawnNode(CLIENT_BIN, [...tunnelTo(false), '--proxy-url', proxyUrl, '--no-reconnect', ...credentialArgs]);
    assert.equal(await once.exited(), 1);
    assert.equal(once.output(), `netunnel-client: cannot reach the proxy at ${proxyUrl}: ECONNREFUSED\n`);
    const retrying = spawnNode(CLIENT_BIN, [...tunnelTo(false), '--proxy-url', proxyUrl]);
    try {
      await retrying.waitFor(/Tunnel down \(cannot reach the proxy at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\); reconnecting in/);
    } finally {
      await retrying.stop();
    }
  });

  test('proxy usage errors are one line and exit code 2', async () => {
    for (const args of [
      ['--proxy-url', 'http://127.0.0.1:1', '--proxy-username', 'u'],
      ['--proxy-url', 'http://127.0.0.1:1', '--proxy-password', 'p'],
      ['--proxy-username', 'u', '--proxy-password', 'p'],
      ['--proxy-url', 'socks5://127.0.0.1:1'],
    ]) {
      const client = spawnNode(CLIENT_BIN, [...tunnelTo(false), ...args]);
      assert.equal(await client.exited(), 2, args.join(' '));
      assert.match(client.output(), /^netunnel-client: [^\n]+\n$/, args.join(' '));
    }
  });
});

const tinyproxyMissing = !(await hasTinyproxy()) && `${TINYPROXY_BIN} is not installed (apt-get install tinyproxy-bin)`;

describe('tunnels through tinyproxy', { skip: tinyproxyMissing }, () => {
  let server: ServerProcess;
  let echo: TestServer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-tinyproxy-'));
    server = await startServerProcess();
    echo = await echoServer();
  });
  after(async () => {
    await server.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [reverse, auth] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    test(`${reverse ? 'reverse' : 'forward'} tunnel${auth ? ' with Basic auth' : ''}`, async () => {
      const proxy = await startTinyproxy(dir, { connectPorts: [server.port], ...(auth ? { credentials: CREDENTIALS } : {}) });
      const args = reverse ? ['-r', '--local-port', String(echo.port), '--remote-port', '0'] : ['--remote-port', String(echo.port)];
      const client = await startClientProcess(['-s', server.url, ...args, '--proxy-url', proxy.url, ...(auth ? credentialArgs : [])]).catch(
        (err: Error) => {
          throw new Error(`${err.message}\ntinyproxy log:\n${proxy.log()}`);
        },
      );
      try {
        const payload = randomBytes(64 * KiB);
        assert.equal(sha256(await exchange(client.entrancePort, payload, 20_000)), sha256(payload));
        assert.ok(proxy.connects(`127.0.0.1:${server.port}`) >= (reverse ? 2 : 3), proxy.log());
      } finally {
        await client.stop();
        await proxy.close();
      }
    });
  }

  test('wrong credentials: one line, exit code 1', async () => {
    const proxy = await startTinyproxy(dir, { connectPorts: [server.port], credentials: CREDENTIALS });
    try {
      const client = spawnNode(CLIENT_BIN, ['-s', server.url, '--remote-port', String(echo.port), '--proxy-url', proxy.url, '--proxy-username', 'x', '--proxy-password', 'y']);
      assert.equal(await client.exited(), 1);
      assert.match(client.output(), /^netunnel-client: the proxy refused the credentials \(40[17] [^)]+\)\n$/);
    } finally {
      await proxy.close();
    }
  });
});
