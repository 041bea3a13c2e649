import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../../', import.meta.url));
export const SERVER_BIN = `${DIST}server/cli.js`;
export const CLIENT_BIN = `${DIST}client/cli.js`;

export interface Spawned {
  child: ChildProcess;
  /** Everything written so far to stdout and stderr. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output from offset `from` on (waiting for it). */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited(): Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

const live = new Set<ChildProcess>();

/** Kills `child` if this test process ends first, however it ends. */
export function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};
process.once('exit', killAll);
// A test file stopped by a signal (the runner's timeout, Ctrl-C) runs no 'exit' hook: stop
// the children here, then die of the same signal.
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAll();
    process.kill(process.pid, signal);
  });
}

export function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string): Spawned {
  const child = spawn(process.execPath, [script, ...args], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  trackChild(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = once(child, 'exit').then(([code, signal]) => (code ?? signal) as number | string);
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 15_000, from = 0) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.slice(from).match(pattern);
          if (!match) return;
          cleanup();
          resolve(match);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${pattern} in output:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        void exit.then(() => {
          if (!listeners.has(check)) return;
          cleanup();
          reject(new Error(`process exited before ${pattern} appeared; output:\n${text}`));
        });
        check();
      });
    },
    exited: () => exit,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface ServerProcess extends Spawned {
  url: string;
  port: number;
}

/** Starts `netunnel-server` on an ephemeral loopback port (or `port`) and waits until it listens. */
export async function startServerProcess(
  args: string[] = [],
  options: { port?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<ServerProcess> {
  const spawned = spawnNode(SERVER_BIN, ['--hostname', '127.0.0.1', '-p', String(options.port ?? 0), ...args], options.env, options.cwd);
  const [, url, port] = await spawned.waitFor(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
  return { ...spawned, url: url!, port: Number(port) };
}

export interface ClientProcess extends Spawned {
  entrancePort: number;
}

/** Starts `netunnel-client` and waits for its tunnel to be up. */
export async function startClientProcess(args: string[], options: { cwd?: string } = {}): Promise<ClientProcess> {
  const spawned = spawnNode(CLIENT_BIN, args, {}, options.cwd);
  const [, port] = await spawned.waitFor(/Tunnel entrance socket: .*:(\d+)\n/);
  await spawned.waitFor(/Tunnel exit socket: /);
  return { ...spawned, entrancePort: Number(port) };
}
