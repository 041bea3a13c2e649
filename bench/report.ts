import type { Machine } from './machine.js';
import type { CaseResult } from './measure.js';

export interface Report {
  machine: Machine;
  sizeMiB: number;
  direction: string;
  cases: CaseResult[];
}

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined ? 'n/a' : value.toFixed(digits);

/** The machine lines and a markdown table of the results. */
export function markdown(report: Report): string {
  const { machine } = report;
  const socat = report.cases.find((c) => c.id === 'socat' && c.status === 'ok')?.mbPerSecond;
  const lines = [
    `Machine: ${machine.nproc} CPUs, ${machine.cpuModel}; ${machine.kernel}; Node ${machine.node}; ` +
      `socat ${machine.socat ?? 'not installed'}; CLK_TCK ${machine.clockTicks}`,
    `Single stream, ${report.sizeMiB} MiB per case, ${report.direction}, loopback. ` +
      'CPU: user+system seconds per GiB moved (tunnel: its own processes from /proc; endpoints: source + sink).',
    '',
    '| case | MB/s | vs socat | tunnel CPU-s/GiB | endpoints CPU-s/GiB | seconds | other load (CPUs) | tunnel processes |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const c of report.cases) {
    if (c.status !== 'ok') {
      const note = c.status === 'skipped' ? c.note : `failed: ${c.note}`;
      lines.push(`| ${c.label} | ${note} | | | | | | ${c.processes} |`);
      continue;
    }
    const ratio = socat === undefined ? 'n/a' : `${Math.round((c.mbPerSecond! / socat) * 100)}%`;
    lines.push(
      `| ${c.label} | ${fixed(c.mbPerSecond, 0)} | ${ratio} | ${fixed(c.tunnelCpuSecondsPerGiB, 2)} | ` +
        `${fixed(c.endpointCpuSecondsPerGiB, 2)} | ${fixed(c.seconds, 2)} | ${fixed(c.otherBusyCpus, 2)} | ${c.processes} |`,
    );
  }
  if (report.cases.some((c) => (c.otherBusyCpus ?? 0) > 0.25)) {
    lines.push('', `Other processes kept more than a quarter of a CPU busy during some rows (out of ${machine.nproc}): those rows are skewed.`);
  }
  return lines.join('\n') + '\n';
}

/** The report as JSON, fractions rounded to 4 decimals. */
export function json(report: Report): string {
  const round = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toFixed(4)) : value;
  return JSON.stringify(report, round, 2) + '\n';
}
