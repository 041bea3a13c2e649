import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startClientProcess, startServerProcess, spawnNode, CLIENT_BIN } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { echoServer, exchange, isRefused, randomBytes, requestReplyServer, sha256, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const MiB = 1024 * 1024;

describe('tunnels through the command-line server and client', () => {
  let server: ServerProcess;
  let echo: TestServer;
  let replier: TestServer;

  before(async () => {
    server = await startServerProcess();
    echo = await echoServer();
    replier = await requestReplyServer((request) => Buffer.concat([Buffer.from('reply to '), request]));
  });
  after(async () => {
    await server.stop();
    await echo.close();
    await replier.close();
  });

  for (const reverse of [false, true]) {
    const kind = reverse ? 'reverse' : 'forward';
    const tunnelTo = (port: number) =>
      reverse
        ? ['-s', server.url, '-r', '--local-port', String(port), '--remote-port', '0']
        : ['-s', server.url, '--remote-port', String(port)];

    test(`${kind} tunnel carries 64 MiB each way exactly`, async () => {
      const client = await startClientProcess(tunnelTo(echo.port));
      try {
        assert.match(client.output(), new RegExp(`^Opening tunnel to the ${reverse ? 'client' : 'server'}\\.\\.\\.\\n`));
        assert.match(client.output(), new RegExp(`Tunnel exit socket: 127\\.0\\.0\\.1:${reverse ? echo.port : echo.port}\\n`));
        const payload = randomBytes(64 * MiB);
        const echoed = await exchange(client.entrancePort, payload, 120_000);
        assert.equal(echoed.length, payload.length);
        assert.equal(sha256(echoed), sha256(payload));
      } finally {
        await client.stop();
      }
    });

    test(`${kind} tunnel carries half-close: a request, then EOF, still gets its whole reply`, async () => {
      const client = await startClientProcess(tunnelTo(replier.port));
      try {
        const reply = await exchange(client.entrancePort, Buffer.from('GET / HTTP/1.0\r\n\r\n'));
        assert.equal(reply.toString(), 'reply to GET / HTTP/1.0\r\n\r\n');
      } finally {
        await client.stop();
      }
    });
  }

  test('an exit with nothing listening gives the user a clean EOF', async () => {
    const closed = await echoServer();
    const deadPort = closed.port;
    await closed.close();
    const client = await startClientProcess(['-s', server.url, '--remote-port', String(deadPort)]);
    try {
      const reply = await exchange(client.entrancePort, Buffer.from('anyone?'), 5000);
      assert.equal(reply.length, 0);
    } finally {
      await client.stop();
    }
  });

  test('a refused destination is one line and exit code 1', async () => {
    const client = spawnNode(CLIENT_BIN, ['-s', server.url, '--remote-address', '10.1.2.3', '--remote-port', '22']);
    assert.equal(await client.exited(), 1);
    assert.equal(client.output(), 'netunnel-client: Address 10.1.2.3 is not allowed as a tunnel destination\n');
  });

  test('a reverse entrance outside the allow-list is one line and exit code 1', async () => {
    const client = spawnNode(CLIENT_BIN, ['-s', server.url, '-r', '--local-port', '22', '--remote-address', '0.0.0.0']);
    assert.equal(await client.exited(), 1);
    assert.match(client.output(), /^netunnel-client: Address 0\.0\.0\.0 is not allowed as a tunnel entrance.*\n$/);
  });

  test('usage errors are one line and exit code 2', async () => {
    for (const args of [['-r'], ['--remote-port', 'ssh'], ['--bogus'], ['-s', 'ftp://x'], ['--local-port', '-1']]) {
      const client = spawnNode(CLIENT_BIN, args);
      assert.equal(await client.exited(), 2, `args ${args.join(' ')}`);
      assert.match(client.output(), /^netunnel-client: [^\n]+\n$/, `args ${args.join(' ')}`);
    }
    // URLs that look right but do not parse are refused at once, naming the option (not retried).
    const urls: Array<[string[], RegExp]> = [
      [['-s', 'http://127.0.0.1:99999'], /--server must be an http:\/\/ or https:\/\/ URL, got "http:\/\/127\.0\.0\.1:99999"/],
      [['-s', 'http://bad host'], /--server must be an .* URL, got "http:\/\/bad host"/],
      [['--proxy-url', 'http://127.0.0.1:99999', '--remote-port', '22'], /--proxy-url must be an http:\/\/ URL, got .*/],
      [['--proxy-url', 'http://[::1', '--remote-port', '22'], /--proxy-url must be an http:\/\/ URL, got .*/],
    ];
    for (const [args, message] of urls) {
      const client = spawnNode(CLIENT_BIN, args);
      assert.equal(await client.exited(), 2, `args ${args.join(' ')}`);
      assert.match(client.output(), new RegExp(`^netunnel-client: ${message.source}\n$`), `args ${args.join(' ')}`);
    }
  });
});

describe('the client outlives its server', () => {
  test('it reconnects after the server restarts, on the same local port', async () => {
    const echo = await echoServer();
    let server = await startServerProcess();
    const port = server.port;
    const client = await startClientProcess(['-s', server.url, '--remote-port', String(echo.port)]);
    try {
      assert.equal((await exchange(client.entrancePort, Buffer.from('before'))).toString(), 'before');
      await server.stop('SIGKILL');
      await client.waitFor(/Tunnel down \(.*\); reconnecting in/);
      server = await startServerProcess([], { port });
      await client.waitFor(/Reconnected: tunnel entrance socket 127\.0\.0\.1:(\d+)/, 30_000);
      assert.match(client.output(), new RegExp(`Reconnected: tunnel entrance socket 127\\.0\\.0\\.1:${client.entrancePort},`));
      assert.equal((await exchange(client.entrancePort, Buffer.from('after'))).toString(), 'after');
    } finally {
      await client.stop();
      await server.stop();
      await echo.close();
    }
  });

  test('with --no-reconnect it exits 0 when the server goes away, and its port closes', async () => {
    const echo = await echoServer();
    const server = await startServerProcess();
    const client = await startClientProcess(['-s', server.url, '--no-reconnect', '--remote-port', String(echo.port)]);
    try {
      await server.stop('SIGKILL');
      assert.equal(await client.exited(), 0);
      await waitUntil(() => isRefused(client.entrancePort), 5000, 'the entrance to close');
    } finally {
      await client.stop();
      await echo.close();
    }
  });

  test('an unreachable server with --no-reconnect is one line and exit code 1', async () => {
    const gone = await echoServer();
    await gone.close();
    const client = spawnNode(CLIENT_BIN, ['-s', `http://127.0.0.1:${gone.port}`, '--no-reconnect']);
    assert.equal(await client.exited(), 1);
    assert.match(client.output(), /^netunnel-client: cannot reach the server at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED\n$/);
  });
});
