import { access, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import { trackChild } from './processes.js';
import { freePort, waitUntil } from './sockets.js';

export const TINYPROXY_BIN = '/usr/bin/tinyproxy';

export async function hasTinyproxy(): Promise<boolean> {
  return access(TINYPROXY_BIN).then(
    () => true,
    () => false,
  );
}

export interface Tinyproxy {
  url: string;
  port: number;
  /** Everything tinyproxy logged so far. */
  log(): string;
  /** How many CONNECT requests it logged for `authority` (host:port). */
  connects(authority: string): number;
  close(): Promise<void>;
}

/** Debian's tinyproxy in the foreground on a loopback ephemeral port, with a throwaway config in `dir`. */
export async function startTinyproxy(dir: string, options: { connectPorts: number[]; credentials?: { username: string; password: string } }): Promise<Tinyproxy> {
  const port = await freePort();
  const conf = join(dir, `tinyproxy-${port}.conf`);
  await writeFile(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 60',
      'MaxClients 200',
      'Allow 127.0.0.1',
      'LogLevel Info',
      'DisableViaHeader Yes',
      ...options.connectPorts.map((p) => `ConnectPort ${p}`),
      ...(options.credentials ? [`BasicAuth ${options.credentials.username} ${options.credentials.password}`] : []),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(TINYPROXY_BIN, ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let text = '';
  child.stdout!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = once(child, 'exit');
  await waitUntil(
    () =>
      new Promise<boolean>((resolve) => {
        if (child.exitCode !== null) return resolve(true);
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      }),
    10_000,
    'tinyproxy to listen',
  );
  if (child.exitCode !== null) throw new Error(`tinyproxy exited at start:\n${text}`);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log: () => text,
    connects: (authority) => text.split('\n').filter((line) => line.includes(`CONNECT ${authority}`)).length,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
