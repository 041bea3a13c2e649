import type { RowBase } from './run-case.js';

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('no values');
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const isNumberList = (value: unknown): value is number[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'number');

/**
 * Objects of one shape merged: every number is the median of its values, a list of numbers the
 * median of each position's, anything else the first's.
 */
function medianOf<T>(objects: readonly T[]): T {
  const first = objects[0] as Record<string, unknown>;
  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(first)) {
    const values = objects.map((o) => (o as Record<string, unknown>)[key]);
    if (typeof value === 'number') merged[key] = median(values as number[]);
    else if (isNumberList(value)) merged[key] = value.map((_, i) => median((values as number[][]).map((list) => list[i]!)));
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) merged[key] = medianOf(values);
    else merged[key] = value;
  }
  return merged as T;
}

/**
 * One row from several runs of the same case: a run that did not succeed speaks for all of
 * them (its note says why), else each figure is the median of the runs', so that a run slowed
 * by something else on the machine does not make the row.
 */
export function combineRuns<T extends RowBase>(runs: readonly T[]): T & { runs: number } {
  const failed = runs.find((run) => run.status !== 'ok');
  return { ...(failed ?? medianOf(runs)), runs: runs.length };
}
