/**
 * `node dist/bench/profile-summary.js FILE.cpuprofile [TOP]`: the functions with the most self
 * time in a V8 CPU profile, as a plain-text table (what to read first when tuning).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
}

export interface SelfTime {
  name: string;
  share: number;
}

/** Self-time share per function (name + file:line), largest first. */
export function selfTimes(profile: Profile): SelfTime[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    const file = frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/dist\//, '');
    const key = `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const total = profile.samples.length || 1;
  return [...counts].map(([name, n]) => ({ name, share: n / total })).sort((x, y) => y.share - x.share);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top = '25'] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: profile-summary.js FILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile).slice(0, Number(top));
  for (const row of rows) process.stdout.write(`${(row.share * 100).toFixed(1).padStart(5)}%  ${row.name}\n`);
}
