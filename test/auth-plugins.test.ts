import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClientAuth, loadServerAuth } from '../common/auth-plugins.js';
import { SharedSecretClientAuth } from '../common/shared-secret-client.js';
import { SharedSecretServerAuth } from '../common/shared-secret-server.js';
import { withTempDir } from './support/temp-dir.js';

const PLUGIN_SOURCE = `
export default class PackagedServerAuth {
  constructor(options) { this.options = options; }
  async isAuthenticated() { return true; }
  async authenticate() { return {}; }
  async getClientForPeer() { return null; }
}
export function OldStyleClientAuth(options) { this.options = options; }
OldStyleClientAuth.prototype.authenticate = async function () {};
OldStyleClientAuth.prototype.isAuthenticated = async function () { return true; };
OldStyleClientAuth.prototype.getAuthorizedHeaders = async function () { return {}; };
OldStyleClientAuth.prototype.dumpObject = function () { return this.options; };
`;

describe('loading auth plugins', () => {
  test('no --auth-plugin: no plugin', async () => {
    assert.equal(await loadServerAuth(undefined, undefined), undefined);
    assert.equal(await loadClientAuth(undefined, undefined), undefined);
  });

  test('shared-secret is built in, for both sides', async () => {
    assert.ok((await loadServerAuth('shared-secret', '{"secret": "s", "token_lifetime": 60}')) instanceof SharedSecretServerAuth);
    const client = await loadClientAuth('shared-secret', '{"secret": "s"}');
    assert.ok(client instanceof SharedSecretClientAuth);
    assert.deepEqual(client.dumpObject(), { secret: 's' });
  });

  test('a package installed beside the current folder, by default export or by name, gets the auth data', async () => {
    await withTempDir(async (dir) => {
      const pkg = join(dir, 'node_modules', 'my-auth');
      await mkdir(pkg, { recursive: true });
      await writeFile(join(pkg, 'package.json'), JSON.stringify({ name: 'my-auth', type: 'module', exports: { '.': { import: './index.js', default: './index.js' } } }));
      await writeFile(join(pkg, 'index.js'), PLUGIN_SOURCE);
      const server = (await loadServerAuth('my-auth', '{"x": 1}', dir)) as unknown as { options: unknown };
      assert.equal(server.constructor.name, 'PackagedServerAuth');
      assert.deepEqual(server.options, { x: 1 });
      const client = await loadClientAuth('my-auth:OldStyleClientAuth', '{"y": 2}', dir);
      assert.deepEqual(client?.dumpObject(), { y: 2 });
      // An absolute path works as well as a relative one.
      assert.ok(await loadServerAuth(join(pkg, 'index.js'), undefined, '/'));
    });
  });
});
