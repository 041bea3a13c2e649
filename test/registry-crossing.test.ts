import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetunnelClient } from '../client/client.js';
import { silentLogger } from './support/in-process.js';
import { makeKey, runSsh, writeSshConfig } from './support/openssh.js';
import type { SshProcess } from './support/openssh.js';
import { CLIENT_BIN, spawnNode, startClientProcess, startServerProcess } from './support/processes.js';
import type { ClientProcess, ServerProcess } from './support/processes.js';
import { connect, echoServer, exchange, freePort, listen, randomBytes, readAll, sha256 } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

/** One registry behind both doors: each world reaches the other's endpoints by name. */
describe('registry crossings between the websocket and SSH doors', () => {
  let dir: string;
  let server: ServerProcess;
  let listener: SshProcess;
  let echo: TestServer;
  let sshPort: number;
  let sshConfig: string;
  let initKey: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netunnel-crossing-'));
    const key = makeKey(dir, 'gw_key');
    const init = makeKey(dir, 'init_key');
    initKey = init.path;
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${key.pub}\naccess="initiate" ${init.pub}\n`);
    await writeFile(join(dir, 'netunnel.conf'), JSON.stringify({
      allowed_tunnel_names: { gw2: '22' },
      // A real destination (.invalid never resolves) that a listener will try to pass itself off as.
      allowed_tunnel_destinations: { '127.0.0.1': '*', 'shadow.invalid': '*' },
    }));
    sshPort = await freePort();
    server = await startServerProcess([
      '-c', join(dir, 'netunnel.conf'),
      '--ssh-port', String(sshPort),
      '--ssh-authorized-keys', join(dir, 'authorized_keys'),
      '--ssh-host-key', join(dir, 'host_key'),
    ]);
    // The HTTP side announces itself first; the SSH door may still be starting.
    await server.waitFor(/SSH front door listening/);
    sshConfig = writeSshConfig(dir);
    echo = await echoServer();
    listener = runSsh(dir, sshConfig, ['-i', key.path, '-p', String(sshPort), '-N', '-R', `22:localhost:${echo.port}`, 'gw1@127.0.0.1']);
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

  test('a listener under a name the allow-list opens as a real address does not capture its traffic', async () => {
    let captured = 0;
    const trap = await listen((socket) => {
      captured += 1;
      socket.end('CAPTURED');
    });
    const key = makeKey(dir, 'shadow_key');
    await writeFile(join(dir, 'authorized_keys'), `access="listen" ${key.pub}\n`, { flag: 'a' });
    const shadow = runSsh(dir, sshConfig, ['-i', key.path, '-p', String(sshPort), '-N', '-R', `22:localhost:${trap.port}`, 'shadow.invalid@127.0.0.1']);
    const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger() });
    try {
      await server.waitFor(/SSH listener .*shadow\.invalid.* registered port 22/, 15_000);
      await client.connect();
      const tunnel = await client.openForwardTunnel({ remoteAddress: 'shadow.invalid', remotePort: 22 });
      const socket = await connect(tunnel.entrance.port);
      const reply = readAll(socket);
      socket.end('hello');
      // The real address does not resolve: the connection fails instead of reaching the listener.
      assert.equal((await reply).toString(), '');
      // By SSH, where only names exist, the listener is reached as usual.
      const w = runSsh(dir, sshConfig, ['-i', initKey, '-p', String(sshPort), '-W', 'shadow.invalid:22', 'initiator@127.0.0.1'], Buffer.alloc(0));
      assert.equal(await w.exited, 0, w.stderr());
      assert.equal(w.stdout().toString(), 'CAPTURED');
      assert.equal(captured, 1);
    } finally {
      await client.close();
      await shadow.kill();
      await trap.close();
    }
  });

  describe('a netunnel named reverse tunnel (named-reverse)', () => {
    let named: ClientProcess;
    let channelId: string;

    before(async () => {
      named = await startClientProcess(['-s', server.url, '-r', '--name', 'gw2', '--remote-port', '22', '--local-port', String(echo.port)]);
      assert.match(named.output(), /Tunnel entrance socket: gw2:22\n/);
      channelId = (await server.waitFor(/"channel":(\d+),"tunnel":\d+[^\n]*Registered as: gw2:22/))[1]!;
    });

    after(async () => {
      await named?.stop();
    });

    test('is reached by ssh -W gw2:22, bytes exact both ways', async () => {
      const payload = randomBytes(1024 * 1024);
      const w = runSsh(dir, sshConfig, ['-i', initKey, '-p', String(sshPort), '-W', 'gw2:22', 'initiator@127.0.0.1'], payload);
      assert.equal(await w.exited, 0, w.stderr());
      assert.equal(sha256(w.stdout()), sha256(payload));
    });

    test("is reached by another netunnel client's forward tunnel to gw2", async () => {
      const client = await startClientProcess(['-s', server.url, '--remote-address', 'gw2', '--remote-port', '22']);
      try {
        const payload = randomBytes(1024 * 1024);
        assert.equal(sha256(await exchange(client.entrancePort, payload)), sha256(payload));
      } finally {
        await client.stop();
      }
    });

    test('a name or port not in allowed_tunnel_names, or a channel without the feature, is refused', async () => {
      const client = new NetunnelClient({ serverUrl: server.url, logger: silentLogger() });
      const original = new NetunnelClient({ serverUrl: server.url, logger: silentLogger(), features: ['half-close'] });
      await client.connect();
      await original.connect();
      try {
        await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: echo.port, name: 'gw1', remotePort: 22 }), {
          statusCode: 403,
          message: 'Name gw1 is not allowed for a named reverse tunnel (see allowed_tunnel_names)',
        });
        await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: echo.port, name: 'gw2', remotePort: 80 }), {
          statusCode: 403,
          message: 'Port gw2:80 is not allowed for a named reverse tunnel (see allowed_tunnel_names)',
        });
        // The client library would not send it; the server must refuse it anyway.
        const response = await fetch(`${server.url}/channels/${original.channelId}/tunnels`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ reverse: true, entrance_address: '127.0.0.1', entrance_port: 22, entrance_name: 'gw2' }),
        });
        assert.equal(response.status, 400);
        assert.match(((await response.json()) as { error: string }).error, /entrance_name needs the named-reverse feature/);
      } finally {
        await client.close();
        await original.close();
      }
    });

    test('the CLI refuses --name without -r, and a named entrance without a port', async () => {
      for (const [args, message] of [
        [['--name', 'gw3'], /--name is for reverse tunnels \(-r\)/],
        [['-r', '--name', 'gw3', '--remote-port', '0', '--local-port', '22'], /--remote-port must be a port number \(1-65535\), got "0"/],
      ] as const) {
        const cli = spawnNode(CLIENT_BIN, ['-s', server.url, ...args]);
        assert.equal(await cli.exited(), 2, cli.output());
        assert.match(cli.output(), message);
      }
    });

    test('the name is released when its client goes away', async () => {
      await named.stop();
      await server.waitFor(new RegExp(`"channel":${channelId}[,}][^\\n]*"msg":"channel closed"`));
      const w = runSsh(dir, sshConfig, ['-i', initKey, '-p', String(sshPort), '-W', 'gw2:22', 'initiator@127.0.0.1'], Buffer.from('x'));
      assert.equal(await w.exited, 255);
      assert.match(w.stderr(), /open failed: connect failed: Unknown name "gw2"/);
    });
  });
});
