import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_BIN, SERVER_BIN, spawnNode, startClientProcess, startServerProcess } from './support/processes.js';
import type { ServerProcess } from './support/processes.js';
import { echoServer, exchange, randomBytes } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';
import { withTempDir } from './support/temp-dir.js';

/** The repository's folder (dist/test/ is two levels down), where the README's commands run. */
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SECRET_FLAGS = ['--auth-plugin', 'shared-secret', '--auth-data', '{"secret": "s3cret"}'];
const API_KEY_PLUGIN = './examples/secret-auth-plugin/api-key-plugin.mjs';

async function assertEchoes(port: number): Promise<void> {
  const payload = randomBytes(256 * 1024);
  assert.deepEqual(await exchange(port, payload, 30_000), payload);
}

/** A CLI run that must stop at once with one line on stderr. */
async function assertOneLineFailure(bin: string, args: string[], code: number, line: RegExp, cwd?: string): Promise<void> {
  const run = spawnNode(bin, args, {}, cwd);
  assert.equal(await run.exited(), code, run.output());
  assert.match(run.output(), /^[^\n]+\n$/);
  assert.match(run.output(), line);
}

describe('the command-line tools with the built-in shared-secret plugin', () => {
  let server: ServerProcess;
  let echo: TestServer;
  before(async () => {
    server = await startServerProcess(SECRET_FLAGS);
    echo = await echoServer();
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  for (const reverse of [false, true]) {
    test(`a ${reverse ? 'reverse' : 'forward'} tunnel works with the secret`, async () => {
      const tunnel = reverse ? ['-r', '--local-port', String(echo.port), '--remote-port', '0'] : ['--remote-port', String(echo.port)];
      const client = await startClientProcess(['-s', server.url, ...SECRET_FLAGS, ...tunnel]);
      try {
        await assertEchoes(client.entrancePort);
        await assertEchoes(client.entrancePort);
      } finally {
        await client.stop();
      }
    });
  }

  test('a client without the plugin gets one clear line and exit code 1', async () => {
    await assertOneLineFailure(
      CLIENT_BIN,
      ['-s', server.url, '--remote-port', String(echo.port)],
      1,
      /^netunnel-client: the server requires authentication and no auth plugin is configured \(--auth-plugin, --auth-data\): no token/,
    );
  });

  test('a client with the wrong secret gets one clear line and exit code 1', async () => {
    await assertOneLineFailure(
      CLIENT_BIN,
      ['-s', server.url, '--auth-plugin', 'shared-secret', '--auth-data', '{"secret": "guess"}', '--remote-port', String(echo.port)],
      1,
      /^netunnel-client: the server at http:\/\/127\.0\.0\.1:\d+ refused the shared secret: wrong secret\n$/,
    );
  });
});

describe('the example API-key plugin, run as its README says', () => {
  let server: ServerProcess;
  let echo: TestServer;
  before(async () => {
    server = await startServerProcess(['--auth-plugin', `${API_KEY_PLUGIN}:ApiKeyServerAuth`, '--auth-data', '{"key":"k-123"}'], { cwd: REPO });
    echo = await echoServer();
  });
  after(async () => {
    await server.stop();
    await echo.close();
  });

  test('a client with the key tunnels; one with another key is refused', async () => {
    const plugin = ['--auth-plugin', `${API_KEY_PLUGIN}:ApiKeyClientAuth`];
    const client = await startClientProcess(['-s', server.url, ...plugin, '--auth-data', '{"key":"k-123"}', '--remote-port', String(echo.port)], {
      cwd: REPO,
    });
    try {
      await assertEchoes(client.entrancePort);
    } finally {
      await client.stop();
    }
    await assertOneLineFailure(
      CLIENT_BIN,
      ['-s', server.url, ...plugin, '--auth-data', '{"key":"other"}', '--remote-port', String(echo.port)],
      1,
      /^netunnel-client: the server refused our fresh credentials: authentication required/,
      REPO,
    );
  });
});

describe('auth plugins that cannot be loaded', () => {
  test('each mistake is one line on stderr and exit code 2, before anything starts', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'not-a-class.mjs'), 'export const value = 42;\nexport function helper() {}\nexport default class {}\n');
      await writeFile(join(dir, 'broken.mjs'), 'export class Broken {\n');
      const cases: [string, string[], RegExp][] = [
        [SERVER_BIN, ['--auth-plugin', './missing.mjs'], /^netunnel-server: --auth-plugin \.\/missing\.mjs: cannot load the module \.\/missing\.mjs: Cannot find module/],
        [SERVER_BIN, ['--auth-plugin', './broken.mjs:Broken'], /cannot load the module \.\/broken\.mjs: .*Unexpected end of input/],
        [SERVER_BIN, ['--auth-plugin', './not-a-class.mjs:value'], /the export value of \.\/not-a-class\.mjs is not a class\n$/],
        [SERVER_BIN, ['--auth-plugin', './not-a-class.mjs:helper'], /the export helper of \.\/not-a-class\.mjs is not a class\n$/],
        [SERVER_BIN, ['--auth-plugin', './not-a-class.mjs:nothing'], /the module \.\/not-a-class\.mjs has no export named nothing\n$/],
        [SERVER_BIN, ['--auth-plugin', './not-a-class.mjs'], /is not a server auth plugin: it lacks isAuthenticated\(\), authenticate\(\), getClientForPeer\(\)\n$/],
        [SERVER_BIN, ['--auth-plugin', 'no-such-package-for-netunnel'], /cannot load the module no-such-package-for-netunnel: /],
        [SERVER_BIN, ['--auth-plugin', 'shared-secret', '--auth-data', '{"secret": '], /^netunnel-server: --auth-data is not valid JSON: /],
        [SERVER_BIN, ['--auth-plugin', 'shared-secret', '--auth-data', '["s"]'], /--auth-data must be a JSON object/],
        [SERVER_BIN, ['--auth-plugin', 'shared-secret'], /--auth-plugin shared-secret refused its --auth-data: .*needs a non-empty string "secret"/],
        [SERVER_BIN, ['--auth-data', '{}'], /^netunnel-server: --auth-data needs --auth-plugin\n$/],
        [CLIENT_BIN, ['--auth-plugin', './not-a-class.mjs'], /is not a client auth plugin: it lacks authenticate\(\), isAuthenticated\(\), getAuthorizedHeaders\(\), dumpObject\(\)\n$/],
        [CLIENT_BIN, ['--auth-plugin', 'shared-secret', '--auth-data', 'nope'], /^netunnel-client: --auth-data is not valid JSON: /],
      ];
      for (const [bin, args, line] of cases) {
        await assertOneLineFailure(bin, bin === SERVER_BIN ? ['-p', '0', ...args] : args, 2, line, dir);
      }
    });
  });
});
