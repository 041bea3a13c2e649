import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NetunnelClient } from '../client/client.js';
import { silentLogger } from './support/in-process.js';
import { startServerProcess } from './support/processes.js';

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
