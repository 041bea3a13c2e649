import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './support/certificates.js';
import type { TestCertificates } from './support/certificates.js';
import { startProxy } from './support/http-proxy.js';
import { startServer } from './support/in-process.js';
import { hasTinyproxy, startTinyproxy } from './support/tinyproxy.js';
import { CLIENT_BIN, SERVER_BIN, spawnNode, startClientProcess } from './support/processes.js';
import type { Spawned } from './support/processes.js';
import { echoServer, exchange, randomBytes, sha256 } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

const TINYPROXY = await hasTinyproxy();

const KiB = 1024;

interface TlsServer extends Spawned {
  url: string;
  port: number;
}

async function startTlsServer(cert: string, key: string): Promise<TlsServer> {
  const spawned = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', '0', '--tls-cert', cert, '--tls-key', key]);
  const [, url, port] = await spawned.waitFor(/listening on (https:\/\/127\.0\.0\.1:(\d+))/);
  return { ...spawned, url: url!, port: Number(port) };
}

async function echoes(port: number): Promise<void> {
  const payload = randomBytes(64 * KiB);
  assert.equal(sha256(await exchange(port, payload, 20_000)), sha256(payload));
}

describe('HTTPS/WSS server and certificate checks', () => {
  let dir: string;
  let certs: TestCertificates;
  let signed: TlsServer;
  let selfSigned: TlsServer;
  let echo: TestServer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-tls-'));
    certs = await makeCertificates(dir);
    [signed, selfSigned, echo] = await Promise.all([
      startTlsServer(certs.serverCert, certs.serverKey),
      startTlsServer(certs.selfSignedCert, certs.selfSignedKey),
      echoServer(),
    ]);
  });
  after(async () => {
    await Promise.all([signed?.stop(), selfSigned?.stop(), echo?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  for (const reverse of [false, true]) {
    test(`a CA-signed server with --ca: 64 KiB through a ${reverse ? 'reverse' : 'forward'} tunnel`, async () => {
      const args = reverse ? ['-r', '--local-port', String(echo.port), '--remote-port', '0'] : ['--remote-port', String(echo.port)];
      const client = await startClientProcess(['-s', signed.url, '--ca', certs.caCert, ...args]);
      try {
        await echoes(client.entrancePort);
      } finally {
        await client.stop();
      }
    });
  }

  test('localhost also matches the certificate', async () => {
    const client = await startClientProcess(['-s', `https://localhost:${signed.port}`, '--ca', certs.caCert, '--remote-port', String(echo.port)]);
    try {
      await echoes(client.entrancePort);
    } finally {
      await client.stop();
    }
  });

  test('a self-signed server without --ca: one line about the certificate, exit code 1, no retry', async () => {
    const client = spawnNode(CLIENT_BIN, ['-s', selfSigned.url, '--remote-port', String(echo.port)]);
    assert.equal(await client.exited(), 1);
    assert.equal(
      client.output(),
      "netunnel-client: the server's certificate is not trusted (self-signed certificate); use --ca FILE or --no-ssl-validate\n",
    );
  });

  test('a CA-signed server without its CA: one line, exit code 1', async () => {
    const client = spawnNode(CLIENT_BIN, ['-s', signed.url, '--remote-port', String(echo.port)]);
    assert.equal(await client.exited(), 1);
    assert.match(client.output(), /^netunnel-client: the server's certificate is not trusted \([^)]+\); use --ca FILE or --no-ssl-validate\n$/);
  });

  test('https:// to a server speaking plain HTTP: one line saying so, exit code 1', async () => {
    const plain = await startServer();
    try {
      const client = spawnNode(CLIENT_BIN, ['-s', plain.url.replace('http:', 'https:'), '--remote-port', String(echo.port)]);
      assert.equal(await client.exited(), 1);
      assert.match(client.output(), /^netunnel-client: the TLS handshake with the server failed \([^\n]+\); is it serving https\?\n$/);
    } finally {
      await plain.close();
    }
  });

  test('--no-ssl-validate accepts a self-signed server', async () => {
    const client = await startClientProcess(['-s', selfSigned.url, '--no-ssl-validate', '--remote-port', String(echo.port)]);
    try {
      await echoes(client.entrancePort);
    } finally {
      await client.stop();
    }
  });

  test('through a proxy: CONNECT, then TLS inside it, for REST and every websocket', async () => {
    const credentials = { username: 'tls-user', password: 'tls-pass' };
    const proxy = await startProxy(credentials);
    const client = await startClientProcess([
      '-s',
      signed.url,
      '--ca',
      certs.caCert,
      '--remote-port',
      String(echo.port),
      '--proxy-url',
      proxy.url,
      '--proxy-username',
      credentials.username,
      '--proxy-password',
      credentials.password,
    ]);
    try {
      await echoes(client.entrancePort);
      const connects = proxy.seen.filter((line) => line === `CONNECT 127.0.0.1:${signed.port}`).length;
      // REST (one pooled tunnel at least), the channel websocket, the spare and its replacement.
      assert.ok(connects >= 4, proxy.seen.join('\n'));
      assert.ok(proxy.seen.every((line) => line.startsWith('CONNECT ')), proxy.seen.join('\n'));
    } finally {
      await client.stop();
      await proxy.close();
    }
  });

  test('a proxy that refuses to CONNECT to the server: one line naming its answer', { skip: !TINYPROXY && 'no tinyproxy' }, async () => {
    // tinyproxy answers 403 to a CONNECT to a port it was not told to allow.
    const proxy = await startTinyproxy(dir, { connectPorts: [signed.port + 1] });
    try {
      const client = spawnNode(CLIENT_BIN, ['-s', signed.url, '--ca', certs.caCert, '--proxy-url', proxy.url, '--no-reconnect', '--remote-port', String(echo.port)]);
      assert.equal(await client.exited(), 1);
      assert.equal(client.output(), `netunnel-client: the proxy at ${proxy.url} could not reach the server at ${signed.url} (HTTP 403)\n`);
    } finally {
      await proxy.close();
    }
  });

  test('through a proxy, a self-signed server is refused the same way', async () => {
    const proxy = await startProxy();
    try {
      const client = spawnNode(CLIENT_BIN, ['-s', selfSigned.url, '--remote-port', String(echo.port), '--proxy-url', proxy.url]);
      assert.equal(await client.exited(), 1);
      assert.match(client.output(), /^netunnel-client: the server's certificate is not trusted \(self-signed certificate\); use --ca FILE or --no-ssl-validate\n$/);
    } finally {
      await proxy.close();
    }
  });

  test('server TLS usage errors are one line and exit code 2', async () => {
    for (const args of [
      ['--tls-cert', certs.serverCert],
      ['--tls-key', certs.serverKey],
      ['--tls-cert', join(dir, 'missing.crt'), '--tls-key', certs.serverKey],
      ['--tls-cert', certs.serverCert, '--tls-key', certs.selfSignedKey],
    ]) {
      const server = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', '0', ...args]);
      assert.equal(await server.exited(), 2, args.join(' '));
      assert.match(server.output(), /^netunnel-server: [^\n]+\n$/, args.join(' '));
    }
  });

  test('client --ca with an unreadable file is one line and exit code 2', async () => {
    const client = spawnNode(CLIENT_BIN, ['-s', signed.url, '--ca', join(dir, 'missing-ca.crt')]);
    assert.equal(await client.exited(), 2);
    assert.match(client.output(), /^netunnel-client: cannot read --ca [^\n]+: ENOENT\n$/);
  });
});
