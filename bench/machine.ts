import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { CLK_TCK } from './proc-cpu.js';
import { SOCAT, socatInstalled } from './socat.js';

export interface Machine {
  nproc: number;
  cpuModel: string;
  kernel: string;
  node: string;
  socat: string | null;
  /** `ssh -V`'s answer, or null without /usr/bin/ssh. */
  ssh: string | null;
  clockTicks: number;
}

/** What a version command prints (stdout and stderr: ssh -V answers on stderr), or null if it cannot run. */
function versionOutput(command: string, args: string[]): string | null {
  const run = spawnSync(command, args, { encoding: 'utf8' });
  return run.error ? null : `${run.stdout}${run.stderr}`;
}

export function describeMachine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpuModel;
  } catch {
    // keep os.cpus()'s answer
  }
  const socat = socatInstalled() ? (versionOutput(SOCAT, ['-V'])?.match(/socat version (\S+)/)?.[1] ?? 'unknown version') : null;
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    socat,
    ssh: versionOutput('/usr/bin/ssh', ['-V'])?.trim().split('\n', 1)[0] || null,
    clockTicks: CLK_TCK,
  };
}
