import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServerProcess } from '../test/support/processes.js';
import { makeKey, runSsh, SSH, writeSshConfig } from '../test/support/openssh.js';
import type { SshProcess } from '../test/support/openssh.js';
import { freePort, waitUntil } from '../test/support/sockets.js';
import type { BenchCase, Path } from './cases.js';
import { onCleanup } from './cleanup.js';
import { descendantsOf } from './proc-cpu.js';

/**
 * The SSH rows: netunnel's SSH front door in the switchboard topology (`ssh -L` -> server ->
 * `ssh -R`, the real OpenSSH client), and OpenSSH's own sshd with `-L` where it is installed.
 */

export const SSHD = '/usr/sbin/sshd';
const NAME = 'benchhost';

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-bench-ssh-'));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs ssh (verbose, so that it tells when its forward is up) and stops it at cleanup. */
async function forwardingSsh(dir: string, config: string, args: string[], ready: RegExp): Promise<SshProcess> {
  const ssh = runSsh(dir, config, ['-v', '-N', ...args]);
  onCleanup(() => ssh.kill());
  await waitUntil(() => ready.test(ssh.stderr()) || ssh.child.exitCode !== null, 20_000, `ssh to match ${ready}`);
  if (!ready.test(ssh.stderr())) throw new Error(`ssh exited: ${ssh.stderr().split('\n').slice(-5).join(' / ')}`);
  return ssh;
}

function switchboardCase(cipher: string, short: string): BenchCase {
  return {
    id: `ssh-${short}`,
    label: `SSH switchboard ${short}`,
    processes: `ssh -L + server + ssh -R (${cipher})`,
    unavailable: () => (existsSync(SSH) ? undefined : `${SSH} not installed`),
    async start(farPort): Promise<Path> {
      const dir = await tempDir();
      const config = writeSshConfig(dir);
      const listen = makeKey(dir, 'listen_key');
      const init = makeKey(dir, 'init_key');
      const authorized = join(dir, 'authorized_keys');
      await writeFile(authorized, `access="listen" ${listen.pub}\naccess="initiate",permitopen="${NAME}:22" ${init.pub}\n`);
      // The per-key circuit cap (1000 by default) would end the scale rows early.
      const configPath = join(dir, 'netunnel.conf');
      await writeFile(configPath, JSON.stringify({ ssh: { authorized_keys: 'authorized_keys', host_key: 'host_key', max_circuits_per_key: 100_000 } }));
      const server = await startServerProcess(['--config-path', configPath, '--ssh-port', '0']);
      onCleanup(() => server.stop());
      const [, doorPort] = await server.waitFor(/SSH front door listening on \S+:(\d+)/);
      const common = ['-p', doorPort!, '-c', cipher];
      const listener = await forwardingSsh(
        dir, config, ['-i', listen.path, ...common, '-R', `22:127.0.0.1:${farPort}`, `${NAME}@127.0.0.1`], /remote forward success/,
      );
      const entrancePort = await freePort();
      const initiator = await forwardingSsh(
        dir, config, ['-i', init.path, ...common, '-L', `127.0.0.1:${entrancePort}:${NAME}:22`, 'initiator@127.0.0.1'], /Local forwarding listening on 127\.0\.0\.1 port/,
      );
      return { entrancePort, pids: [initiator.child.pid!, server.child.pid!, listener.child.pid!] };
    },
  };
}

/** Debian's sshd, as root, refuses to start without it. */
const PRIVSEP_DIR = '/run/sshd';

/** OpenSSH's sshd on a loopback port with a throwaway config, and `ssh -L` through it. */
const sshdCase: BenchCase = {
  id: 'sshd',
  label: 'OpenSSH sshd -L',
  processes: 'ssh -L + sshd and its session processes (aes128-gcm)',
  unavailable: () => (existsSync(SSHD) ? undefined : `${SSHD} not installed (the row runs where it is)`),
  async start(farPort): Promise<Path> {
    const dir = await tempDir();
    const config = writeSshConfig(dir);
    const user = makeKey(dir, 'user_key');
    const hostKey = makeKey(dir, 'host_key');
    await writeFile(join(dir, 'authorized_keys'), `${user.pub}\n`);
    const sshdPort = await freePort();
    const sshdConfig = join(dir, 'sshd_config');
    await writeFile(sshdConfig, [
      `ListenAddress 127.0.0.1:${sshdPort}`, `HostKey ${hostKey.path}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no', 'StrictModes no', `PidFile ${join(dir, 'sshd.pid')}`,
      'AllowTcpForwarding yes', '',
    ].join('\n'));
    // sshd started as root wants its privilege separation directory, which the ssh service
    // would have made at boot.
    if (process.getuid?.() === 0) await mkdir(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    const sshd = spawn(SSHD, ['-D', '-e', '-f', sshdConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
    onCleanup(async () => {
      sshd.kill('SIGTERM');
    });
    let log = '';
    sshd.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await waitUntil(() => /Server listening/.test(log) || sshd.exitCode !== null, 10_000, 'sshd to listen');
    if (sshd.exitCode !== null) throw new Error(`sshd exited: ${log.trim()}`);
    const entrancePort = await freePort();
    const login = process.env.USER ?? 'root';
    const client = await forwardingSsh(
      dir, config, ['-i', user.path, '-p', String(sshdPort), '-c', 'aes128-gcm@openssh.com', '-L', `127.0.0.1:${entrancePort}:127.0.0.1:${farPort}`, `${login}@127.0.0.1`],
      /Local forwarding listening on 127\.0\.0\.1 port/,
    );
    // sshd serves the session in forked processes (privilege separation), reaped only when the
    // session ends: they do the relaying, so they are measured too.
    return { entrancePort, pids: [client.child.pid!, sshd.pid!, ...(await settledDescendants(sshd.pid!))] };
  },
};

/**
 * The processes under `pid` once the set stops changing: the pre-authentication child lingers
 * a moment after ssh reports its forward, and a process listed then is gone when measured.
 */
async function settledDescendants(pid: number): Promise<number[]> {
  let seen = descendantsOf(pid);
  for (let look = 0; look < 50; look++) {
    await sleep(200);
    const now = descendantsOf(pid);
    if (now.join() === seen.join()) return now;
    seen = now;
  }
  throw new Error(`the processes of sshd ${pid} did not settle in 10 s`);
}

export const SSH_CASES: readonly BenchCase[] = [
  switchboardCase('aes128-gcm@openssh.com', 'aes128-gcm'),
  switchboardCase('chacha20-poly1305@openssh.com', 'chacha20'),
  sshdCase,
];
