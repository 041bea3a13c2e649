import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleTempFiles, writeFileAtomic } from '../common/atomic-file.js';
import { withTempDir } from './support/temp-dir.js';

test('creates a new file with the data and leaves nothing else behind', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'a.json');
    await writeFileAtomic(path, '{"a": 1}\n');
    assert.equal(await readFile(path, 'utf8'), '{"a": 1}\n');
    assert.deepEqual(await readdir(dir), ['a.json']);
  }));

test('writes bytes as given', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'b.bin');
    const data = Uint8Array.from([0, 1, 2, 255]);
    await writeFileAtomic(path, data);
    assert.deepEqual(new Uint8Array(await readFile(path)), data);
  }));

test('a new file gets exactly the mode asked for, whatever the umask', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'secret.json');
    await writeFileAtomic(path, 'x', 0o640);
    assert.equal((await stat(path)).mode & 0o777, 0o640);
  }));

test('replacing a file keeps its content whole and its permissions', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'c.json');
    await writeFile(path, 'old content that is longer than the new one');
    await chmod(path, 0o604);
    await writeFileAtomic(path, 'new', 0o600);
    assert.equal(await readFile(path, 'utf8'), 'new');
    assert.equal((await stat(path)).mode & 0o777, 0o604);
    assert.deepEqual(await readdir(dir), ['c.json']);
  }));

test('a failed rename surfaces the error and removes the temp file', () =>
  withTempDir(async (dir) => {
    // A non-empty directory at the target: rename fails even for root.
    const path = join(dir, 'target');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'keep');
    await assert.rejects(writeFileAtomic(path, 'data'), (err: NodeJS.ErrnoException) => {
      assert.ok(['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(err.code ?? ''), String(err.code));
      return true;
    });
    assert.deepEqual(await readdir(dir), ['target']);
    assert.equal(await readFile(join(path, 'inside'), 'utf8'), 'keep');
  }));

test('a missing folder surfaces ENOENT', () =>
  withTempDir(async (dir) => {
    await assert.rejects(writeFileAtomic(join(dir, 'gone', 'x.json'), 'data'), { code: 'ENOENT' });
    assert.deepEqual(await readdir(dir), []);
  }));

test('concurrent writers never interleave: the result is one complete write', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'race.json');
    const payloads = Array.from({ length: 20 }, (_, i) => JSON.stringify({ i, fill: String(i).repeat(5000) }));
    await Promise.all(payloads.map((p) => writeFileAtomic(path, p)));
    assert.ok(payloads.includes(await readFile(path, 'utf8')));
    assert.deepEqual(await readdir(dir), ['race.json']);
  }));

test('stale temp files of dead writers are removed; live ones and other files stay', () =>
  withTempDir(async (dir) => {
    const path = join(dir, 'cfg.json');
    // Pid 2^22 + 1 is above Linux's pid_max limit, so no process can have it.
    const dead = '.cfg.json.4194305.0123456789ab.tmp';
    const live = `.cfg.json.${process.pid}.0123456789ab.tmp`;
    const others = ['cfg.json', '.other.json.4194305.0123456789ab.tmp', 'cfg.json.bak'];
    for (const name of [dead, live, ...others]) await writeFile(join(dir, name), 'x');
    assert.deepEqual(await removeStaleTempFiles(path), [dead]);
    assert.deepEqual((await readdir(dir)).sort(), [live, ...others].sort());
  }));

test('stale temp cleanup of a missing folder finds nothing', async () => {
  assert.deepEqual(await removeStaleTempFiles(join(tmpdir(), 'netunnel-no-such-dir', 'x.json')), []);
});
