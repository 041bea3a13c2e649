/**
 * Single-stream throughput benchmark (issue 7, first piece): direct TCP, a socat relay pair,
 * netunnel forward and reverse tunnels. See options.ts for usage.
 */
import { CASES } from './cases.js';
import { cleanup, cleanupOnSignals, interrupted } from './cleanup.js';
import { describeMachine } from './machine.js';
import { measure } from './measure.js';
import type { CaseResult } from './measure.js';
import { parseOptions, USAGE } from './options.js';
import type { Options } from './options.js';
import { json, markdown } from './report.js';

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

const options = readOptions();
cleanupOnSignals();
const machine = describeMachine();
const bytes = Math.round(options.sizeMiB * 1024 * 1024);
const results: CaseResult[] = [];
try {
  for (const benchCase of CASES.filter((c) => options.caseIds.includes(c.id))) {
    process.stderr.write(`${benchCase.label}: `);
    const result = await measure(benchCase, bytes);
    // The signal handler is stopping everything and will exit: no partial table.
    if (interrupted()) break;
    process.stderr.write(
      result.status === 'ok'
        ? `${result.mbPerSecond!.toFixed(0)} MB/s in ${result.seconds!.toFixed(2)} s\n`
        : `${result.status}: ${result.note}\n`,
    );
    results.push(result);
  }
} finally {
  await cleanup();
}

if (interrupted()) {
  process.stderr.write('interrupted: no results printed\n');
} else {
  const report = {
    machine,
    sizeMiB: options.sizeMiB,
    direction: 'upload (source -> tunnel entrance -> tunnel exit -> sink)',
    cases: results,
  };
  process.stdout.write(options.json ? json(report) : markdown(report));
  if (results.some((r) => r.status === 'failed')) process.exitCode = 1;
}
