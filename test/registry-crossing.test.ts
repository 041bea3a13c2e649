import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetunnelClient } from '../client/client.js';
import { silentLogger } from './support/in-process.js';
import { makeKey, runSsh, writeSshConfig } from './support/openssh.js';
import type { SshProcess } from './support/openssh.js';
import { startClientProcess, startServerProcess } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { echoServer, exchange, freePort, randomBytes, sha256 } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** The websocket world reaches the SSH world by name: one registry behind both doors. */
describe('a netunnel forward tunnel to an SSH listener by name', () => {
  let dir: string;
  let server: ServerProcess;
  let listener: SshProcess;
  let echo: TestServer;
  let sshPort: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-crossing-'));
    const key = makeKey(dir, 'gw_key');
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${key.pub}\n`);
    sshPort = await freePort();
    server = await startServerProcess([
      '--ssh-port', String(sshPort),
      '--ssh-authorized-keys', join(dir, 'authorized_keys'),
      '--ssh-host-key', join(dir, 'host_key'),
    ]);
    echo = await echoServer();
    listener = runSsh(dir, writeSshConfig(dir), ['-i', key.path, '-p', String(sshPort), '-N', '-R', `22:localhost:${echo.port}`, 'gw1@127.0.0.1']);
    // Not the login line ("authenticated as gw1"): the registration itself.
    await server.waitFor(/SSH listener .*gw1.* registered port 22/, 15_000);
  });

  after(async () => {
    await listener?.kill();
    await server?.stop();
    await echo?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('carries bytes both ways exactly, with half-close, through the CLI client', async () => {
    const client = await startClientProcess(['-s', server.url, '--remote-address', 'gw1', '--remote-port', '22']);
    try {
      const payload = randomBytes(1024 * 1024);
      assert.equal(sha256(await exchange(client.entrancePort, payload)), sha256(payload));
    } finally {
      await client.stop();
    }
  });

  test('a name without that port, or an unknown name, is refused with a clear sentence', async () => {
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger() });
    await client.connect();
    try {
      await assert.rejects(client.openForwardTunnel({ remoteAddress: 'gw1', remotePort: 23 }), {
        statusCode: 404,
        message: 'Unknown port 23 on "gw1" (its ports: 22)',
      });
      await assert.rejects(client.openForwardTunnel({ remoteAddress: 'nobody', remotePort: 22 }), {
        statusCode: 403,
        message: 'Address nobody is not allowed as a tunnel destination',
      });
    } finally {
      await client.close();
    }
  });
});
