/**
 * `node dist/bench/render.js REPORT.json`: the markdown tables of a report saved with --json,
 * so that one run gives both.
 */
import { readFileSync } from 'node:fs';
import { markdown } from './report.js';
import type { Report } from './report.js';

const [file] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: render.js REPORT.json\n');
  process.exit(2);
}
process.stdout.write(markdown(JSON.parse(readFileSync(file, 'utf8')) as Report));
