import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ErrorBody } from '../common/protocol.js';
import { ConfigStore } from '../server/config/store.js';
import { NetunnelServer } from '../server/server.js';
import { call, silentLogger } from './support/in-process.js';
import { startServerProcess } from './support/processes.js';
import { withTempDir } from './support/temp-dir.js';

interface Ctx {
  server: NetunnelServer;
  config: ConfigStore;
  path: string;
}

async function withServer(fn: (ctx: Ctx) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const path = join(dir, 'netunnel.conf');
    const config = await ConfigStore.open({ path, env: {}, logger: silentLogger() });
    const server = await NetunnelServer.start({ host: '127.0.0.1', port: 0, logger: silentLogger(), config });
    try {
      await fn({ server, config, path });
    } finally {
      await server.close();
    }
  });
}

/** What an operator does in an editor: the same file, one value changed. */
async function editByHand(path: string, changes: Record<string, unknown>): Promise<string> {
  const edited = `${JSON.stringify({ ...(JSON.parse(await readFile(path, 'utf8')) as object), ...changes }, null, 2)}\n`;
  await writeFile(path, edited);
  return edited;
}

function setProxy(server: { url: string }, port: number) {
  return call(server, 'POST', '/config/http-proxy', { proxy_url: `http://127.0.0.1:${port}`, check_proxy: false });
}

const CHANGED_ON_DISK = /^config file .*netunnel\.conf was changed on disk since the server read it; .*Restart the server to load the file/;

test('an API change after a hand edit is a 409 naming the file; the edit is kept and nothing changes in memory', () =>
  withServer(async ({ server, config, path }) => {
    const edited = await editByHand(path, { max_channels: 3 });
    const before = structuredClone(config.config);
    const answer = await setProxy(server, 3128);
    assert.equal(answer.status, 409, answer.text);
    assert.match(answer.type, /^application\/json/);
    const body = answer.body as ErrorBody;
    assert.equal(body.code, 'CONFIG_CHANGED_ON_DISK');
    assert.match(body.error, CHANGED_ON_DISK);
    assert.ok(body.error.includes(path), body.error);
    assert.equal(await readFile(path, 'utf8'), edited, 'the hand edit is still in the file');
    assert.deepEqual(config.config, before, 'the refused change is not applied in memory');
    assert.deepEqual((await call(server, 'GET', '/config/http-proxy')).body, {});
    // And it stays refused: the server keeps serving, the file keeps winning.
    assert.equal((await call(server, 'POST', '/config/factory-reset')).status, 409);
    assert.equal(await readFile(path, 'utf8'), edited);
    assert.equal((await call(server, 'GET', '/status')).status, 200);
  }));

test('API changes one after another save normally; rewriting the same content is no change', () =>
  withServer(async ({ server, path }) => {
    assert.equal((await setProxy(server, 3128)).status, 200);
    assert.equal((await setProxy(server, 3129)).status, 200);
    // An editor that saves without changing anything (or `touch`) must not block the API.
    await writeFile(path, await readFile(path, 'utf8'));
    assert.equal((await setProxy(server, 3130)).status, 200);
    const saved = JSON.parse(await readFile(path, 'utf8')) as { http_proxy: { proxy_url: string } };
    assert.equal(saved.http_proxy.proxy_url, 'http://127.0.0.1:3130');
  }));

test('a config file removed while the server runs is written again by the next change', () =>
  withServer(async ({ server, path }) => {
    await rm(path);
    assert.equal((await setProxy(server, 3128)).status, 200);
    const saved = JSON.parse(await readFile(path, 'utf8')) as { http_proxy: { proxy_url: string }; secret_key: string };
    assert.equal(saved.http_proxy.proxy_url, 'http://127.0.0.1:3128');
    assert.equal(typeof saved.secret_key, 'string', 'the secret key is saved again too');
  }));

test('a server process refuses the change after a hand edit, and loads the edit on restart', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'netunnel.conf');
    let server = await startServerProcess(['-c', path]);
    try {
      await editByHand(path, { http_proxy: { proxy_url: 'http://127.0.0.1:8080', username: null, password: null } });
      const answer = await setProxy(server, 3128);
      assert.equal(answer.status, 409, answer.text);
      assert.match((answer.body as ErrorBody).error, CHANGED_ON_DISK);
    } finally {
      await server.stop();
    }
    server = await startServerProcess(['-c', path]);
    try {
      assert.deepEqual((await call(server, 'GET', '/config/http-proxy')).body, { proxy_url: 'http://127.0.0.1:8080', username: null, password: null });
      assert.equal((await setProxy(server, 3128)).status, 200, 'after the restart, changes save again');
    } finally {
      await server.stop();
    }
  }));
