import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import ssh2 from 'ssh2';
import { generateEd25519Key } from '../../server/ssh/ed25519-key.js';
import { startSshFrontDoor } from '../../server/ssh/front-door.js';
import type { SshFrontDoor, SshFrontDoorOptions } from '../../server/ssh/front-door.js';
import { TunnelRegistry } from '../../server/tunnel-registry.js';
import { trackChild } from './processes.js';

export const SSH = '/usr/bin/ssh';
export const SSH_KEYGEN = '/usr/bin/ssh-keygen';

/** Makes an ed25519 key pair (private key mode 0600); returns the private key path and the public key line. */
export function makeKey(dir: string, name: string, type = 'ed25519'): { path: string; pub: string } {
  const path = join(dir, name);
  execFileSync(SSH_KEYGEN, ['-q', '-t', type, '-N', '', '-C', name, '-f', path]);
  chmodSync(path, 0o600);
  return { path, pub: execFileSync(SSH_KEYGEN, ['-y', '-f', path]).toString().trim() };
}

/** Writes an ssh_config for the switchboard; every client uses it with -F (no user or system config is read). */
export function writeSshConfig(dir: string): string {
  const path = join(dir, 'ssh_config');
  writeFileSync(
    path,
    [
      'Host *',
      '  StrictHostKeyChecking no',
      '  UserKnownHostsFile /dev/null',
      '  IdentitiesOnly yes',
      '  BatchMode yes',
      '  LogLevel INFO',
      '  ServerAliveInterval 5',
      '  ServerAliveCountMax 3',
      '  ExitOnForwardFailure yes',
      '',
    ].join('\n'),
  );
  return path;
}

export interface SshProcess {
  child: ChildProcess;
  stdout(): Buffer;
  stderr(): string;
  exited: Promise<number | string>;
  kill(): Promise<void>;
}

/** Runs `ssh -F config ...args` (no shell, no agent, HOME and current folder in the test folder). */
export function runSsh(dir: string, config: string, args: string[], input?: Buffer): SshProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir };
  delete env.SSH_AUTH_SOCK;
  const child = spawn(SSH, ['-F', config, ...args], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  const out: Buffer[] = [];
  let err = '';
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin!.on('error', () => {});
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
  });
  if (input) child.stdin!.end(input);
  return {
    child,
    stdout: () => Buffer.concat(out),
    stderr: () => err,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface Switchboard {
  dir: string;
  config: string;
  registry: TunnelRegistry;
  door: SshFrontDoor;
  keys: Record<string, { path: string; pub: string }>;
  /** `ssh -i KEY -p DOOR ...args USER@127.0.0.1 ...command`; stopped by close(). */
  ssh(key: string, user: string, args: string[], input?: Buffer, command?: string[]): SshProcess;
  resolves(name: string, port: number): boolean;
  /** The front door's log so far (info and up), one JSON line per entry. */
  logs(): string;
  close(): Promise<void>;
}

/**
 * An SSH front door in this process on an ephemeral loopback port, in a fresh folder with
 * keys made by ssh-keygen (`keyTypes`: name -> type) and the authorized_keys lines
 * `authorized(keys)` gives.
 */
export async function startSwitchboard(
  keyTypes: Record<string, string>,
  authorized: (keys: Switchboard['keys']) => string[],
  options: Partial<SshFrontDoorOptions> = {},
): Promise<Switchboard> {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-ssh-'));
  const config = writeSshConfig(dir);
  const keys = Object.fromEntries(Object.entries(keyTypes).map(([name, type]) => [name, makeKey(dir, name, type)]));
  await writeFile(join(dir, 'authorized_keys'), [...authorized(keys), ''].join('\n'));
  const registry = new TunnelRegistry();
  let log = '';
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      log += chunk.toString();
      callback();
    },
  });
  const door = await startSshFrontDoor({
    port: 0,
    hostKeyPath: join(dir, 'host_key'),
    authorizedKeysPath: join(dir, 'authorized_keys'),
    registry,
    logger: pino({ level: 'info' }, sink),
    ...options,
  });
  const spawned: SshProcess[] = [];
  return {
    dir,
    config,
    registry,
    door,
    keys,
    ssh(key, user, args, input, command = []) {
      const p = runSsh(dir, config, ['-i', key, '-p', String(door.port), ...args, `${user}@127.0.0.1`, ...command], input);
      spawned.push(p);
      return p;
    },
    resolves: (name, port) => registry.find(name, port) !== undefined,
    logs: () => log,
    async close() {
      await Promise.all(spawned.map((p) => p.kill()));
      await door.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ExecServer {
  port: number;
  close(): Promise<void>;
}

/**
 * A stand-in for the sshd of a machine behind a listener: an ssh2 server on loopback that
 * lets any public key in and answers every `exec` with `ran: <command>` and exit status 0.
 */
export async function startExecServer(): Promise<ExecServer> {
  const hostKey = Buffer.from(generateEd25519Key().private);
  const clients = new Set<ssh2.Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    clients.add(client);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
    client.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        const channel = acceptExec();
        channel.write(`ran: ${info.command}\n`);
        channel.exit(0);
        channel.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
}
