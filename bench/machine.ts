import { execFileSync } from 'node:child_process';
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
  clockTicks: number;
}

export function describeMachine(): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpuModel = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpuModel;
  } catch {
    // keep os.cpus()'s answer
  }
  let socat: string | null = null;
  if (socatInstalled()) {
    try {
      socat = execFileSync(SOCAT, ['-V'], { encoding: 'utf8' }).match(/socat version (\S+)/)?.[1] ?? 'unknown version';
    } catch {
      socat = 'unknown version';
    }
  }
  return {
    nproc: os.availableParallelism(),
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    socat,
    clockTicks: CLK_TCK,
  };
}
