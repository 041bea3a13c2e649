import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, TESTS } from '../bench/options.js';

test('bench defaults: every test and case, 1 GiB after 256 MiB, 3 rounds, 16 streams, 2000 round trips and connections, up to 10000 held', () => {
  const options = parseOptions([])!;
  assert.deepEqual(options.tests, [...TESTS]);
  assert.ok(options.caseIds.includes('direct') && options.caseIds.includes('socat') && options.caseIds.includes('forward'));
  assert.equal(options.sizeMiB, 1024);
  assert.equal(options.warmupMiB, 256);
  assert.equal(options.repeat, 3);
  assert.equal(options.streams, 16);
  assert.equal(options.roundTrips, 2000);
  assert.equal(options.connections, 2000);
  assert.deepEqual(options.scale, [1000, 5000, 10000]);
  assert.equal(options.scaleEchoBytes, 1);
  assert.equal(options.json, false);
});

test('bench options pick tests, cases and sizes', () => {
  const options = parseOptions(['--tests', 'latency,scale', '--cases', 'direct,forward', '--size', '0.5', '--warmup', '0', '--repeat', '1', '--scale', '10000', '--scale-echo', '200', '--json'])!;
  assert.deepEqual(options.tests, ['latency', 'scale']);
  assert.deepEqual(options.caseIds, ['direct', 'forward']);
  assert.equal(options.sizeMiB, 0.5);
  assert.equal(options.warmupMiB, 0);
  assert.equal(options.repeat, 1);
  assert.deepEqual(options.scale, [10000]);
  assert.equal(options.scaleEchoBytes, 200 * 1024);
  assert.equal(options.json, true);
  assert.equal(parseOptions(['--help']), undefined);
});

test('bench options refuse unknown names and non-positive numbers', () => {
  assert.throws(() => parseOptions(['--cases', 'nope']), /unknown nope/);
  assert.throws(() => parseOptions(['--tests', 'speed']), /unknown speed/);
  assert.throws(() => parseOptions(['--streams', '0']), /positive/);
  assert.throws(() => parseOptions(['--repeat', '0']), /positive/);
  assert.throws(() => parseOptions(['--warmup=-1']), /positive/);
  assert.throws(() => parseOptions(['--scale', '10,x']), /positive/);
  assert.throws(() => parseOptions(['--scale-echo', '0']), /positive/);
});
