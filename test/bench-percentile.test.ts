import { test } from 'node:test';
import assert from 'node:assert/strict';
import { percentile, percentiles } from '../bench/percentile.js';

test('nearest-rank percentiles pick a measured sample', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(hundred, 50), 50);
  assert.equal(percentile(hundred, 99), 99);
  assert.equal(percentile(hundred, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([1, 2, 3], 50), 2);
});

test('percentiles sorts a copy and counts the samples', () => {
  const samples = [5, 1, 4, 2, 3];
  assert.deepEqual(percentiles(samples), { count: 5, p50: 3, p99: 5 });
  assert.deepEqual(samples, [5, 1, 4, 2, 3]);
});

test('no samples or a percentile out of range is an error', () => {
  assert.throws(() => percentile([], 50), /no samples/);
  assert.throws(() => percentile([1], 0), /not in/);
  assert.throws(() => percentile([1], 101), /not in/);
});
