import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { freePort } from '../test/support/sockets.js';
import { onCleanup } from './cleanup.js';
import { within } from './within.js';

/** A `socat` TCP relay (one process, forking a child per connection), for the reference rows. */

export const SOCAT = '/usr/bin/socat';

export function socatInstalled(): boolean {
  return existsSync(SOCAT);
}

export interface Relay {
  pid: number;
  port: number;
}

/**
 * socat's transfer block size. Its default (8192) halves its throughput here and doubles its CPU
 * per GiB (~600 MB/s at ~2.4 CPU-s/GiB against ~1170 MB/s at ~0.85 with 64 KiB, the read size
 * Node uses too): as the ceiling for a three-hop relay, the row uses the faster setting.
 */
export const SOCAT_BLOCK_SIZE = 65536;

/** Starts `socat -b 65536 TCP-LISTEN:<free port>,reuseaddr,fork TCP:127.0.0.1:<targetPort>` and waits until it listens. */
export async function startSocatRelay(targetPort: number): Promise<Relay> {
  const port = await freePort();
  // Its own process group, so that stopping it also stops the per-connection children.
  const child = spawn(
    SOCAT,
    ['-d', '-d', '-b', String(SOCAT_BLOCK_SIZE), `TCP4-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP4:127.0.0.1:${targetPort}`],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = once(child, 'exit');
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const killOnExit = () => killGroup('SIGKILL');
  process.once('exit', killOnExit);
  onCleanup(async () => {
    killGroup('SIGTERM');
    await within(exited, 5_000, 'socat to exit').catch(() => killGroup('SIGKILL'));
    process.off('exit', killOnExit);
  });
  let log = '';
  await within(
    new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('listening on')) resolve();
      });
      void exited.then(() => reject(new Error(`socat exited before listening:\n${log}`)));
      child.once('error', reject);
    }),
    10_000,
    `socat to listen on ${port}`,
  );
  return { pid: child.pid!, port };
}
