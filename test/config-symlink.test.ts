import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readFile, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { writeFileAtomic } from '../common/atomic-file.js';
import { ConfigStore } from '../server/config/store.js';
import { startServerProcess } from './support/processes.js';
import { withTempDir } from './support/temp-dir.js';

const quiet = pino({ level: 'silent' });

/** `dir/link.json` -> `real/conf.json` (relative, as `ln -s` is usually used), with `real/` made. */
async function linkedConfig(dir: string): Promise<{ link: string; target: string; real: string }> {
  const real = join(dir, 'real');
  await mkdir(real);
  const link = join(dir, 'link.json');
  await symlink(join('real', 'conf.json'), link);
  return { link, target: join(real, 'conf.json'), real };
}

async function assertStillLink(link: string): Promise<void> {
  assert.ok((await lstat(link)).isSymbolicLink(), `${link} is still a symlink`);
  assert.equal(await readlink(link), join('real', 'conf.json'));
}

test('saving through a symlinked config path writes the target and keeps the link', () =>
  withTempDir(async (dir) => {
    const { link, target, real } = await linkedConfig(dir);
    await writeFile(target, '{"max_channels": 5}\n');
    const store = await ConfigStore.open({ path: link, env: {}, logger: quiet });
    await store.update((draft) => {
      draft.max_channels = 7;
    });
    await assertStillLink(link);
    const saved = JSON.parse(await readFile(target, 'utf8')) as Record<string, unknown>;
    assert.equal(saved.max_channels, 7);
    assert.deepEqual((await readdir(dir)).sort(), ['link.json', 'real'], 'no temp file beside the link');
    assert.deepEqual(await readdir(real), ['conf.json'], 'no temp file left beside the target');
  }));

test('a dangling symlink gets its target created, with every default', () =>
  withTempDir(async (dir) => {
    const { link, target } = await linkedConfig(dir);
    const store = await ConfigStore.open({ path: link, env: {}, logger: quiet });
    await assertStillLink(link);
    assert.deepEqual(JSON.parse(await readFile(target, 'utf8')), store.config);
    assert.equal((await lstat(target)).mode & 0o777, 0o600);
  }));

test('writeFileAtomic follows a chain of links to the file at its end', () =>
  withTempDir(async (dir) => {
    const { link, target } = await linkedConfig(dir);
    const outer = join(dir, 'outer.json');
    await symlink(link, outer);
    await writeFile(target, 'old');
    await writeFileAtomic(outer, 'new');
    assert.ok((await lstat(outer)).isSymbolicLink());
    await assertStillLink(link);
    assert.equal(await readFile(target, 'utf8'), 'new');
  }));

test('a server started with -c LINK keeps the link across API changes', () =>
  withTempDir(async (dir) => {
    const { link, target } = await linkedConfig(dir);
    const server = await startServerProcess(['-c', link]);
    try {
      const response = await fetch(`${server.url}/config/http-proxy`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ proxy_url: 'http://127.0.0.1:3128', check_proxy: false }),
      });
      assert.equal(response.status, 200, await response.text());
    } finally {
      await server.stop();
    }
    await assertStillLink(link);
    const saved = JSON.parse(await readFile(target, 'utf8')) as { http_proxy: { proxy_url: string } };
    assert.equal(saved.http_proxy.proxy_url, 'http://127.0.0.1:3128');
  }));
