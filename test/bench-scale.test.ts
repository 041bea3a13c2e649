import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { feasibleConnections } from '../bench/scale.js';

const limit = Number(readFileSync('/proc/self/limits', 'utf8').match(/Max open files\s+(\d+)/)![1]);

test('scale: a count the descriptor limit allows runs as asked', () => {
  assert.deepEqual(feasibleConnections(100), { connections: 100 });
});

test('scale: a count past the descriptor limit runs as the most hundreds that fit, and says why', () => {
  const asked = limit; // 2 descriptors a connection can never fit `limit` connections
  const { connections, note } = feasibleConnections(asked);
  assert.equal(connections % 100, 0);
  assert.ok(2 * connections + 200 <= limit, `${connections} connections fit in ${limit} descriptors`);
  assert.ok(2 * (connections + 100) + 200 > limit, 'and 100 more would not');
  assert.equal(note, `${asked} asked: it needs ${2 * asked + 200} open files per tunnel process, and ulimit -n is ${limit}`);
});
