import { parseArgs } from 'node:util';
import { CASES } from './cases.js';

export const TESTS = ['upload', 'download', 'parallel', 'latency', 'scale'] as const;
export type TestId = (typeof TESTS)[number];

export const USAGE = `Usage: node dist/bench/run.js [options]

Measures each case (a path from a client to a server on loopback) side by side with direct TCP
and a socat relay pair, and prints markdown tables (or JSON with --json; progress goes to
stderr either way). CPU figures are the tunnel's own processes, from /proc.

  --tests LIST        comma-separated, default all: ${TESTS.join(',')}
                      upload/download: one stream each way; parallel: 16 streams, upload;
                      latency: 64-byte echo round trips and new connections; scale: many
                      connections held open through one client
  --cases LIST        comma-separated case ids (default: all): ${CASES.map((c) => c.id).join(',')}
  --size MIB          MiB moved per throughput row (default 1024)
  --warmup MIB        MiB moved through each throughput row's path first, not measured, so
                      that the figures are a running tunnel's, not its JIT's (default 256; 0: none)
  --repeat N          rounds of every throughput and latency row; each figure is the median of
                      its case's rounds (default 3)
  --streams N         parallel streams for "parallel" (default 16)
  --round-trips N     64-byte round trips per latency row (default 2000, after as many to warm up)
  --connections N     sequential new connections per latency row (default 2000)
  --scale LIST        connection counts held open for "scale" (default 1000,5000,10000); a count
                      that needs more open files than ulimit -n allows (2 per connection in each
                      tunnel process, plus 200) runs as the most that fit, and says so
  --scale-echo KIB    for "scale": each connection, once open, echoes this many KiB before it
                      is held (default: 1 byte), so that RSS shows what connections that
                      carried data keep
  --profile DIR       write a V8 CPU profile of each Node process started that exits (not
                      killed) to DIR: the client, the server and the near end
                      (read one with: node dist/bench/profile-summary.js FILE)
  --json              print JSON instead of the tables
  -h, --help          this help
`;

export interface Options {
  tests: TestId[];
  caseIds: string[];
  sizeMiB: number;
  warmupMiB: number;
  repeat: number;
  streams: number;
  roundTrips: number;
  connections: number;
  scale: number[];
  /** Bytes each held connection echoes once open (1 unless --scale-echo). */
  scaleEchoBytes: number;
  profileDir?: string;
  json: boolean;
}

function positive(flag: string, value: string, integer = true): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${flag} wants a positive number, not "${value}"`);
  return n;
}

function list<T extends string>(flag: string, value: string | undefined, known: readonly T[]): T[] {
  if (value === undefined) return [...known];
  const ids = value.split(',').map((id) => id.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !known.includes(id as T));
  if (unknown.length > 0) throw new Error(`--${flag}: unknown ${unknown.join(', ')}; known: ${known.join(', ')}`);
  if (ids.length === 0) throw new Error(`--${flag} names nothing`);
  return ids as T[];
}

/** Parses argv; throws an Error with a user-facing message on bad input, returns undefined for --help. */
export function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      tests: { type: 'string' },
      cases: { type: 'string' },
      size: { type: 'string', default: '1024' },
      warmup: { type: 'string', default: '256' },
      repeat: { type: 'string', default: '3' },
      streams: { type: 'string', default: '16' },
      'round-trips': { type: 'string', default: '2000' },
      connections: { type: 'string', default: '2000' },
      scale: { type: 'string', default: '1000,5000,10000' },
      'scale-echo': { type: 'string' },
      profile: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return undefined;
  return {
    tests: list('tests', values.tests, TESTS),
    caseIds: list('cases', values.cases, CASES.map((c) => c.id)),
    sizeMiB: positive('size', values.size, false),
    warmupMiB: values.warmup === '0' ? 0 : positive('warmup', values.warmup, false),
    repeat: positive('repeat', values.repeat),
    streams: positive('streams', values.streams),
    roundTrips: positive('round-trips', values['round-trips']),
    connections: positive('connections', values.connections),
    scale: values.scale.split(',').map((n) => positive('scale', n.trim())),
    scaleEchoBytes: values['scale-echo'] === undefined ? 1 : Math.round(positive('scale-echo', values['scale-echo'], false) * 1024),
    ...(values.profile !== undefined ? { profileDir: values.profile } : {}),
    json: values.json,
  };
}
