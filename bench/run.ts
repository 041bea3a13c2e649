/**
 * The benchmark (issue 7): throughput both ways and in parallel, latency and scale, each case
 * beside direct TCP and a socat relay pair. See options.ts for usage.
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { CASES } from './cases.js';
import type { BenchCase } from './cases.js';
import { cleanup, cleanupOnSignals, interrupted } from './cleanup.js';
import { measureLatency } from './latency.js';
import { describeMachine } from './machine.js';
import { measureThroughput } from './measure.js';
import type { ThroughputSpec } from './measure.js';
import { parseOptions, USAGE } from './options.js';
import type { Options } from './options.js';
import { combineRuns } from './repeat.js';
import { eachOf, json, markdown } from './report.js';
import type { Report, ThroughputTable } from './report.js';
import type { RowBase } from './run-case.js';
import { feasibleConnections, measureScale } from './scale.js';

function readOptions(): Options {
  let options: Options | undefined;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (!options) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  return options;
}

/** Every Node child started from now on records a CPU profile into `dir` (see cpu-profile-preload.ts). */
function profileChildren(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const preload = fileURLToPath(new URL('./cpu-profile-preload.js', import.meta.url));
  process.env.NETUNNEL_BENCH_PROFILE_DIR = dir;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim();
}

/**
 * Runs `measure` for every selected case `repeat` times, a round of all cases at a time (so
 * that a slow spell of the machine falls on every case alike), and combines each case's runs.
 */
async function eachCaseRepeated<T extends RowBase>(what: string, cases: BenchCase[], repeat: number, measure: (c: BenchCase) => Promise<T>, show: (r: T) => string): Promise<T[]> {
  const runs = new Map<string, T[]>();
  for (let round = 1; round <= repeat && !interrupted(); round++) {
    const rows = await eachCase(repeat > 1 ? `${what} (${round}/${repeat})` : what, cases, measure, show);
    for (const row of rows) runs.set(row.id, [...(runs.get(row.id) ?? []), row]);
  }
  return [...runs.values()].map(combineRuns);
}

/** Runs `measure` for every selected case, printing progress; stops early when interrupted. */
async function eachCase<T extends RowBase>(what: string, cases: BenchCase[], measure: (c: BenchCase) => Promise<T>, show: (r: T) => string): Promise<T[]> {
  const rows: T[] = [];
  for (const benchCase of cases) {
    if (interrupted()) break;
    process.stderr.write(`${what}, ${benchCase.label}: `);
    const row = await measure(benchCase);
    process.stderr.write(`${row.status === 'ok' ? show(row) : `${row.status}: ${row.note}`}\n`);
    rows.push(row);
  }
  return rows;
}

async function throughput(title: string, cases: BenchCase[], spec: ThroughputSpec, options: Options): Promise<ThroughputTable> {
  const rows = await eachCaseRepeated(title, cases, options.repeat, (c) => measureThroughput(c, spec), (r) => `${r.mbPerSecond!.toFixed(0)} MB/s, ${r.tunnelCpuSecondsPerGiB?.toFixed(2) ?? 'n/a'} CPU-s/GiB (${eachOf(r.processCpuSecondsPerGiB, 2)})`);
  return { title, spec: { direction: spec.direction, streams: spec.streams, sizeMiB: options.sizeMiB, warmupMiB: options.warmupMiB }, rows };
}

async function runAll(options: Options, report: Report): Promise<void> {
  const cases = CASES.filter((c) => options.caseIds.includes(c.id));
  const bytes = Math.round(options.sizeMiB * 1024 * 1024);
  const warmupBytes = Math.round(options.warmupMiB * 1024 * 1024);
  const { tests } = options;
  if (tests.includes('upload')) report.throughput.push(await throughput('Upload', cases, { direction: 'upload', streams: 1, bytes, warmupBytes }, options));
  if (tests.includes('download')) report.throughput.push(await throughput('Download', cases, { direction: 'download', streams: 1, bytes, warmupBytes }, options));
  if (tests.includes('parallel')) {
    report.throughput.push(await throughput('Parallel upload', cases, { direction: 'upload', streams: options.streams, bytes, warmupBytes }, options));
  }
  if (tests.includes('latency')) {
    const spec = { roundTrips: options.roundTrips, connections: options.connections };
    report.latency = await eachCaseRepeated('latency', cases, options.repeat, (c) => measureLatency(c, spec), (r) => `RTT p50 ${r.rttMs!.p50.toFixed(3)} ms, connect p50 ${r.connectMs!.p50.toFixed(3)} ms`);
  }
  if (tests.includes('scale')) {
    for (const asked of options.scale) {
      const { connections: n, note } = feasibleConnections(asked);
      if (n === 0) continue;
      // socat forks a process per connection: thousands of them would measure fork, not relaying.
      const skip = (c: BenchCase) => (c.id === 'socat' ? 'not run (a forked process per connection)' : undefined);
      const rows = await eachCase(`scale ${n}`, cases, (c) => measureScale(c, n, options.scaleEchoBytes, skip(c)), (r) => `${r.usable}/${n} usable, opened in ${r.openSeconds!.toFixed(2)} s, RSS KiB/conn ${eachOf(r.rssKiBPerConnection, 1)}`);
      report.scale.push({ connections: n, echoBytes: options.scaleEchoBytes, ...(note ? { note } : {}), rows });
    }
  }
}

const options = readOptions();
cleanupOnSignals();
if (options.profileDir) profileChildren(options.profileDir);
const report: Report = { machine: describeMachine(), loadAverage: os.loadavg(), repeat: options.repeat, throughput: [], scale: [] };
try {
  await runAll(options, report);
} finally {
  await cleanup();
}

if (interrupted()) {
  process.stderr.write('interrupted: no results printed\n');
} else {
  process.stdout.write(options.json ? json(report) : markdown(report));
  const rows = [...report.throughput.flatMap((t) => t.rows), ...(report.latency ?? []), ...report.scale.flatMap((t) => t.rows)];
  if (rows.some((r) => r.status === 'failed')) process.exitCode = 1;
}
