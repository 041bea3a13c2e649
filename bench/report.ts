import type { LatencyResult } from './latency.js';
import type { Machine } from './machine.js';
import type { ThroughputResult, ThroughputSpec } from './measure.js';
import type { RowBase } from './run-case.js';
import type { ScaleResult } from './scale.js';

export interface ThroughputTable {
  title: string;
  spec: Omit<ThroughputSpec, 'bytes' | 'warmupBytes'> & { sizeMiB: number; warmupMiB: number };
  rows: ThroughputResult[];
}

export interface ScaleTable {
  connections: number;
  /** What each connection echoed once open, before it was held. */
  echoBytes: number;
  /** Why fewer connections were held than asked for. */
  note?: string;
  rows: ScaleResult[];
}

export interface Report {
  machine: Machine;
  /** Load average when the bench started (1, 5, 15 min): other work skews every figure. */
  loadAverage: number[];
  /** Runs of each throughput and latency row that its figures are the medians of. */
  repeat: number;
  throughput: ThroughputTable[];
  latency?: LatencyResult[];
  scale: ScaleTable[];
}

const fixed = (value: number | null | undefined, digits: number) =>
  value === null || value === undefined ? 'n/a' : value.toFixed(digits);

/** One figure per tunnel process, in the order of the case's `processes`. */
export const eachOf = (values: number[] | undefined, digits: number) =>
  values?.length ? values.map((v) => v.toFixed(digits)).join(' / ') : 'n/a';

/** `value` as a percentage or multiple of the reference row's, when both exist. */
const ratio = (value: number | undefined, reference: number | undefined, asPercent: boolean) => {
  if (value === undefined || reference === undefined || reference === 0) return 'n/a';
  return asPercent ? `${Math.round((value / reference) * 100)}%` : `${(value / reference).toFixed(2)}x`;
};

/** The row of a case that did not run: its note in the first figure column. */
function notRun(row: RowBase, columns: number): string {
  const note = row.status === 'skipped' ? row.note : `failed: ${row.note}`;
  return `| ${row.label} | ${note} |${' |'.repeat(columns - 1)}`;
}

function throughputTable(table: ThroughputTable): string[] {
  const socat = table.rows.find((r) => r.id === 'socat' && r.status === 'ok')?.mbPerSecond;
  const lines = [
    `### ${table.title}: ${table.spec.streams} stream(s), ${table.spec.sizeMiB} MiB in all, ${table.spec.direction}, after ${table.spec.warmupMiB} MiB of warm-up`,
    '',
    '| case | MB/s | vs socat | tunnel CPU-s/GiB | per tunnel process | endpoints CPU-s/GiB | seconds | other load (CPUs) | tunnel processes |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of table.rows) {
    if (r.status !== 'ok') {
      lines.push(notRun(r, 8));
      continue;
    }
    lines.push(
      `| ${r.label} | ${fixed(r.mbPerSecond, 0)} | ${ratio(r.mbPerSecond, socat, true)} | ${fixed(r.tunnelCpuSecondsPerGiB, 2)} | ${eachOf(r.processCpuSecondsPerGiB, 2)} | ` +
        `${fixed(r.endpointCpuSecondsPerGiB, 2)} | ${fixed(r.seconds, 2)} | ${fixed(r.otherBusyCpus, 2)} | ${r.processes} |`,
    );
  }
  return lines;
}

function latencyTable(rows: LatencyResult[]): string[] {
  const direct = rows.find((r) => r.id === 'direct' && r.status === 'ok');
  const lines = [
    '### Latency: 64-byte echo round trips over one connection; new connection + 1-byte echo, sequential (ms)',
    '',
    '| case | RTT p50 | RTT p99 | RTT p50 vs direct | connect p50 | connect p99 | connect p50 vs direct |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    if (r.status !== 'ok') {
      lines.push(notRun(r, 6));
      continue;
    }
    lines.push(
      `| ${r.label} | ${fixed(r.rttMs?.p50, 3)} | ${fixed(r.rttMs?.p99, 3)} | ${ratio(r.rttMs?.p50, direct?.rttMs?.p50, false)} | ` +
        `${fixed(r.connectMs?.p50, 3)} | ${fixed(r.connectMs?.p99, 3)} | ${ratio(r.connectMs?.p50, direct?.connectMs?.p50, false)} |`,
    );
  }
  return lines;
}

function scaleTable(table: ScaleTable): string[] {
  const lines = [
    `### Scale: ${table.connections} connections held open through one tunnel${table.echoBytes > 1 ? `, each after echoing ${table.echoBytes / 1024} KiB` : ''}`,
    '',
    ...(table.note ? [`The most this machine allows (${table.note}).`, ''] : []),
    '| case | seconds to open | still usable | RSS KiB per connection (per tunnel process) | tunnel processes |',
    '|---|---:|---:|---:|---|',
  ];
  for (const r of table.rows) {
    if (r.status !== 'ok') {
      lines.push(notRun(r, 4));
      continue;
    }
    lines.push(`| ${r.label} | ${fixed(r.openSeconds, 2)} | ${r.usable}/${r.connections} | ${eachOf(r.rssKiBPerConnection, 1)} | ${r.processes} |`);
  }
  return lines;
}

/** The machine lines and one markdown table per test. */
export function markdown(report: Report): string {
  const { machine } = report;
  const sections = [
    [
      `Machine: ${machine.nproc} CPUs, ${machine.cpuModel}; ${machine.kernel}; Node ${machine.node}; ` +
        `socat ${machine.socat ?? 'not installed'}; ${machine.ssh ?? 'no ssh'}; CLK_TCK ${machine.clockTicks}; ` +
        `load average at start ${report.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
      'CPU: user+system seconds per GiB moved (tunnel: its own processes from /proc; endpoints: the two traffic processes).',
      `Throughput and latency figures: the median of ${report.repeat} run(s) of each case, the cases taking turns.`,
    ],
    ...report.throughput.map(throughputTable),
    ...(report.latency ? [latencyTable(report.latency)] : []),
    ...report.scale.map(scaleTable),
  ];
  if (report.throughput.some((t) => t.rows.some((r) => (r.otherBusyCpus ?? 0) > 0.25))) {
    sections.push([`Other processes kept more than a quarter of a CPU busy during some throughput rows (out of ${machine.nproc}): those rows are skewed.`]);
  }
  return sections.map((lines) => lines.join('\n')).join('\n\n') + '\n';
}

/** The report as JSON, fractions rounded to 4 decimals. */
export function json(report: Report): string {
  const round = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isInteger(value) ? Number(value.toFixed(4)) : value;
  return JSON.stringify(report, round, 2) + '\n';
}
