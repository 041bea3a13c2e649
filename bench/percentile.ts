/** Percentiles of latency samples (nearest-rank: always a value that was measured). */

export interface Percentiles {
  count: number;
  p50: number;
  p99: number;
}

/** The nearest-rank `p`-th percentile (0 < p <= 100) of `sorted` (ascending, non-empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('no samples');
  if (!(p > 0 && p <= 100)) throw new Error(`percentile ${p} is not in (0, 100]`);
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

export function percentiles(samples: readonly number[]): Percentiles {
  const sorted = [...samples].sort((x, y) => x - y);
  return { count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
}
