import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

/** CPU time accounting of other processes, read from /proc/<pid>/stat. */

/** Clock ticks per second (`getconf CLK_TCK`; 100 on practically every Linux). */
export const CLK_TCK = readClockTicks();

function readClockTicks(): number {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(ticks) && ticks > 0) return ticks;
  } catch {
    // getconf missing: fall through to Linux's fixed USER_HZ
  }
  return 100;
}

interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is parenthesised and may hold spaces; fields from 3 (state) follow the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const field = (n: number) => Number(fields[n - 3]);
  // 14 utime, 15 stime: the process's own threads; 16 cutime, 17 cstime: its reaped children
  // (socat's `fork` serves each connection in a child process).
  return { ppid: field(4), ticks: field(14) + field(15) + field(16) + field(17) };
}

/** CPU seconds (user + system, own and reaped children) used so far by each of `pids`. */
export function cpuSecondsEach(pids: readonly number[]): number[] {
  return pids.map((pid) => {
    const stat = readStat(pid);
    if (!stat) throw new Error(`process ${pid} is gone, cannot read its CPU time`);
    return stat.ticks / CLK_TCK;
  });
}

/** Pids whose parent is one of `pids` (including zombies not yet reaped). */
export function childrenOf(pids: readonly number[]): number[] {
  const parents = new Set(pids);
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat && parents.has(stat.ppid)) children.push(Number(name));
  }
  return children;
}

/** Every process below `pid`: its children, theirs, and so on. */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  for (let generation = childrenOf([pid]); generation.length > 0; generation = childrenOf(generation)) found.push(...generation);
  return found;
}

/** CPU seconds all CPUs have spent busy (not idle or iowait) since boot, from /proc/stat. */
export function systemBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLK_TCK;
}
