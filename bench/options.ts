import { parseArgs } from 'node:util';
import { CASES } from './cases.js';

export const USAGE = `Usage: node dist/bench/run.js [--size MIB] [--cases ${CASES.map((c) => c.id).join(',')}] [--json]

Single-stream upload throughput on loopback through each case, with the CPU seconds per GiB
of the tunnel's own processes (from /proc). Prints a markdown table, or JSON with --json
(progress goes to stderr either way).

  --size MIB     MiB sent per case (default 1024)
  --cases LIST   comma-separated case ids (default: all)
  --json         print JSON instead of the table
  -h, --help     this help
`;

export interface Options {
  sizeMiB: number;
  caseIds: string[];
  json: boolean;
}

/** Parses argv; throws an Error with a user-facing message on bad input, returns undefined for --help. */
export function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '1024' },
      cases: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const sizeMiB = Number(values.size);
  if (!Number.isFinite(sizeMiB) || sizeMiB <= 0) throw new Error(`--size wants a positive number of MiB, not "${values.size}"`);
  const known = CASES.map((c) => c.id);
  const caseIds = values.cases === undefined ? known : values.cases.split(',').map((id) => id.trim()).filter(Boolean);
  const unknown = caseIds.filter((id) => !known.includes(id));
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  if (caseIds.length === 0) throw new Error('--cases names no case');
  return { sizeMiB, caseIds, json: values.json };
}
