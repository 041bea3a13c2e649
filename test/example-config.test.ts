import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetunnelClient } from '../client/client.js';
import { silentLogger } from './support/in-process.js';
import { startServerProcess } from './support/processes.js';
import { echoServer, exchange, freePort, waitUntil } from './support/sockets.js';

const EXAMPLE = fileURLToPath(new URL('../../netunnel.example.conf', import.meta.url));

test('netunnel.example.conf loads, and its settings are the ones in force', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-example-'));
  const path = join(dir, 'netunnel.conf');
  await copyFile(EXAMPLE, path);
  const server = await startServerProcess(['-c', path]);
  try {
    const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, unknown>;
    const saved = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    const { secret_key: secretKey, ...rest } = saved;
    assert.deepEqual(rest, example, 'every example setting is kept as written');
    assert.equal(typeof secretKey, 'string', 'a secret key was generated and saved');
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger() });
    await client.connect();
    try {
      await client.openForwardTunnel({ remoteAddress: '10.0.0.5', remotePort: 5432 });
      await assert.rejects(client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: 3306 }), { statusCode: 403 });
      await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 22, remoteAddress: '0.0.0.0', remotePort: 9999 }), {
        statusCode: 403,
      });
    } finally {
      await client.close();
    }
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

const SERVER_SERVER = fileURLToPath(new URL('../../examples/server-server/', import.meta.url));

test('examples/server-server: server2 keeps a static tunnel through server1 (ports moved to free ones)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-server-server-'));
  const echo = await echoServer();
  const localPort = await freePort();
  // The example's fixed ports (4040, 20000, 22) become free loopback ones; nothing else changes.
  const moved = async (name: string, replacements: [string, string][]) => {
    let text = await readFile(join(SERVER_SERVER, name), 'utf8');
    for (const [from, to] of replacements) text = text.replace(from, to);
    await writeFile(join(dir, name), text);
    return join(dir, name);
  };
  const server1 = await startServerProcess(['-c', await moved('server1.conf', [['"22"', `"${echo.port}"`]])]);
  const server2Conf = await moved('server2.conf', [
    ['http://127.0.0.1:4040', server1.url],
    ['"tunnel_local_port": 20000', `"tunnel_local_port": ${localPort}`],
    ['"tunnel_remote_port": 22', `"tunnel_remote_port": ${echo.port}`],
  ]);
  const server2 = await startServerProcess(['-c', server2Conf]);
  try {
    await waitUntil(async () => {
      const response = await fetch(`${server2.url}/peers/1/static_tunnels/1`);
      return ((await response.json()) as { state: string }).state === 'online';
    }, 20_000, 'the static tunnel online');
    assert.deepEqual(await exchange(localPort, Buffer.from('ssh, say')), Buffer.from('ssh, say'));
  } finally {
    await server2.stop();
    await server1.stop();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  }
});
