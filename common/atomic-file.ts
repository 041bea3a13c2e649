import { randomBytes } from 'node:crypto';
import { open, readdir, readlink, realpath, rename, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** Some platforms and file systems cannot fsync a directory; the rename is done by then anyway. */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM', 'EBADF']);
/** As Linux's own limit on a chain of symlinks (ELOOP), for the dangling chains realpath cannot follow. */
const MAX_SYMLINKS = 40;

/**
 * Replaces `path` with `data` so that a reader, or the file after a crash or power loss,
 * sees either the old content or the new one, never a mix or a truncated file.
 *
 * `mode` applies when the file is new; an existing file keeps its permissions (and, when we
 * run as root, its owner), because an operator may have tightened them on purpose.
 * A symlink at `path` stays one: the file it points to is replaced (the temp file is made
 * beside that file, so the rename stays on its file system). Errors are thrown as they come
 * from the OS; the temp file is removed first.
 */
export async function writeFileAtomic(linkOrPath: string, data: string | Uint8Array, mode?: number): Promise<void> {
  // Resolved at every write, not once: an operator may repoint the link while we run.
  const path = await resolveWriteTarget(linkOrPath);
  const existing = await ifPresent(stat(path));
  const tmp = tempPathFor(path);
  let handle: FileHandle | undefined;
  try {
    // 'wx': never reuse a file someone else created under our name.
    handle = await open(tmp, 'wx', existing === undefined ? (mode ?? 0o666) : 0o600);
    await handle.writeFile(data);
    await keepOwnership(handle, existing, mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

/**
 * The file a write to `path` must replace: `path` with every symlink followed (a rename onto
 * the link itself would turn it into a regular file), including the target a dangling link
 * names, so a missing linked file is created where the link points; `path` when nothing is there.
 */
async function resolveWriteTarget(path: string, hops = 0): Promise<string> {
  const real = await ifPresent(realpath(path));
  if (real !== undefined) return real;
  const link = await danglingLinkTarget(path);
  if (link === undefined) return path;
  if (hops >= MAX_SYMLINKS) throw Object.assign(new Error(`too many levels of symbolic links: ${path}`), { code: 'ELOOP' });
  return resolveWriteTarget(resolve(dirname(path), link), hops + 1);
}

/** What the link at `path` names; undefined when `path` is no link (nothing there, or a folder on the way is missing). */
async function danglingLinkTarget(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch (err) {
    if (['ENOENT', 'EINVAL'].includes((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
}

function tempPathFor(path: string): string {
  // Same folder, so the rename never crosses a file system; pid + random keeps concurrent writers apart.
  const unique = `${process.pid}.${randomBytes(6).toString('hex')}`;
  return join(dirname(path), `.${basename(path)}.${unique}.tmp`);
}

/**
 * Removes the temp files that writers of `path` killed mid-write (SIGKILL, power loss) left
 * behind; they may hold secrets. A temp file whose writer process still runs is left alone.
 * Returns the names removed.
 */
export async function removeStaleTempFiles(linkOrPath: string): Promise<string[]> {
  // The temp files are beside the file a symlink points to, where writeFileAtomic makes them.
  const path = await resolveWriteTarget(linkOrPath);
  const dir = dirname(path);
  const pattern = new RegExp(`^\\.${escapeRegExp(basename(path))}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`);
  const removed: string[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = pattern.exec(name)?.[1];
    if (pid === undefined || isRunning(Number(pid))) continue;
    await rm(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

function isRunning(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The result, or undefined for a file that does not exist; any other error is thrown. */
export async function ifPresent<T>(pending: Promise<T>): Promise<T | undefined> {
  try {
    return await pending;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function keepOwnership(handle: FileHandle, existing: Stats | undefined, mode: number | undefined): Promise<void> {
  if (existing === undefined) {
    // The umask trimmed the requested mode at creation; an explicit mode is meant exactly.
    if (mode !== undefined) await handle.chmod(mode);
    return;
  }
  // Created 0600 above, so no one could read a half-written secret before this.
  await handle.chmod(existing.mode & 0o7777);
  if (process.getuid?.() === 0) await handle.chown(existing.uid, existing.gid);
}

async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    if (!DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
