/**
 * What `npm pack` ships works after a global install: the bins start, serve and tunnel.
 * Installs from the npm cache (the test run's own `npm ci` filled it), into a temp prefix.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnNode } from './support/processes.js';
import { echoServer, exchange } from './support/sockets.js';
import { withTempDir } from './support/temp-dir.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM_FLAGS = ['--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

test('npm pack gives a package whose bins work after a global install', { timeout: 180_000 }, () =>
  withTempDir(async (dir) => {
    // dist/ is already built by `npm test`; prepack would only build it again.
    await run('npm', ['pack', ROOT, '--pack-destination', dir, ...NPM_FLAGS], { cwd: dir });
    const [tarball] = (await readdir(dir)).filter((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    const { stdout: listing } = await run('tar', ['tzf', join(dir, tarball)]);
    assert.match(listing, /package\/dist\/server\/cli\.js/);
    assert.doesNotMatch(listing, /package\/dist\/test\//, 'tests are not shipped');

    const prefix = join(dir, 'prefix');
    await run('npm', ['install', '-g', '--prefix', prefix, join(dir, tarball), ...NPM_FLAGS], { cwd: dir, timeout: 150_000 });
    const bin = (name: string) => join(prefix, 'bin', name);
    for (const name of ['netunnel-server', 'netunnel-client', 'netunnel-security']) {
      const { stdout } = await run(bin(name), ['--help']);
      assert.match(stdout, new RegExp(`Usage: ${name}`));
    }

    const echo = await echoServer();
    const server = spawnNode(bin('netunnel-server'), ['--hostname', '127.0.0.1', '-p', '0']);
    try {
      const [, url] = await server.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
      const client = spawnNode(bin('netunnel-client'), ['-s', url!, '--remote-port', String(echo.port)]);
      try {
        const [, port] = await client.waitFor(/Tunnel entrance socket: .*:(\d+)\n/);
        assert.deepEqual(await exchange(Number(port), Buffer.from('installed')), Buffer.from('installed'));
      } finally {
        await client.stop();
      }
    } finally {
      await server.stop();
      await echo.close();
    }
  }),
);
