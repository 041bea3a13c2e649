import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineRuns, median } from '../bench/repeat.js';
import type { RowBase } from '../bench/run-case.js';

test('median: the middle value, or the mean of the middle two', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([40, 10, 30, 20]), 25);
  assert.equal(median([7]), 7);
  assert.throws(() => median([]), /no values/);
});

type Row = RowBase & {
  mbPerSecond?: number;
  cpu?: number | null;
  rttMs?: { p50: number; p99: number };
  perProcess?: number[];
};
const base = { id: 'forward', label: 'netunnel forward', processes: 'server + client' } as const;

test('combineRuns: each figure is the median of the runs, nested ones too', () => {
  const runs: Row[] = [
    { ...base, status: 'ok', mbPerSecond: 900, cpu: 1.5, rttMs: { p50: 0.2, p99: 0.9 } },
    { ...base, status: 'ok', mbPerSecond: 600, cpu: 1.9, rttMs: { p50: 0.1, p99: 0.5 } },
    { ...base, status: 'ok', mbPerSecond: 800, cpu: 1.6, rttMs: { p50: 0.3, p99: 0.7 } },
  ];
  assert.deepEqual(combineRuns(runs), { ...base, status: 'ok', mbPerSecond: 800, cpu: 1.6, rttMs: { p50: 0.2, p99: 0.7 }, runs: 3 });
  // A figure with no value (no tunnel processes) stays without one.
  assert.equal(combineRuns([{ ...base, status: 'ok', cpu: null }]).cpu, null);
});

test('combineRuns: a list of figures is the median of each position', () => {
  const runs: Row[] = [
    { ...base, status: 'ok', perProcess: [0.7, 0.9] },
    { ...base, status: 'ok', perProcess: [0.6, 1.2] },
    { ...base, status: 'ok', perProcess: [0.8, 0.8] },
  ];
  // Each process's own median, not the figures of the run whose total was the median.
  assert.deepEqual(combineRuns(runs).perProcess, [0.7, 0.9]);
  assert.deepEqual(combineRuns([{ ...base, status: 'ok', perProcess: [] }]).perProcess, []);
});

test('combineRuns: a run that failed or was skipped speaks for the row', () => {
  const ok: Row = { ...base, status: 'ok', mbPerSecond: 900 };
  const failed: Row = { ...base, status: 'failed', note: 'the far end closed early' };
  assert.deepEqual(combineRuns([ok, failed, ok]), { ...failed, runs: 3 });
});
