import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { NetunnelError } from '../common/errors.js';
import { TunnelRegistry } from '../server/tunnel-registry.js';
import type { EndpointProvider, OwnerInfo } from '../server/tunnel-registry.js';

function provider(): EndpointProvider {
  return { open: () => Promise.resolve(new PassThrough()) };
}

function owner(address: string): OwnerInfo {
  return { kind: 'test', address };
}

function notFound(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof NetunnelError && err.code === 'NOT_FOUND' && message.test(err.message));
}

describe('tunnel registry', () => {
  test('resolves a name and its aliases to the provider of the port', () => {
    const registry = new TunnelRegistry();
    const p22 = provider();
    const p80 = provider();
    const o = owner('a');
    registry.register(['gw1', 'gateway'], 22, p22, o);
    registry.register(['gw1', 'gateway'], 80, p80, o);
    assert.equal(registry.resolve('gw1', 22), p22);
    assert.equal(registry.resolve('gateway', 80), p80);
    assert.equal(registry.resolve('gw1~0', 80), p80);
  });

  test('unknown name, unknown index and unknown port are NOT_FOUND with a clear sentence', () => {
    const registry = new TunnelRegistry();
    registry.register(['gw1'], 22, provider(), owner('a'));
    notFound(() => registry.resolve('nope', 22), /Unknown name "nope"/);
    notFound(() => registry.resolve('gw1~1', 22), /highest index is ~0/);
    notFound(() => registry.resolve('gw1', 80), /Unknown port 80 on "gw1" \(its ports: 22\)/);
  });

  test('newest registration wins; name~N reaches older ones; no fallback across owners', () => {
    const registry = new TunnelRegistry();
    const old22 = provider();
    const new80 = provider();
    registry.register(['gw'], 22, old22, owner('old'));
    const newer = registry.register(['gw'], 80, new80, owner('new'));
    assert.equal(registry.resolve('gw', 80), new80);
    notFound(() => registry.resolve('gw', 22), /Unknown port 22/);
    assert.equal(registry.resolve('gw~1', 22), old22);
    newer.unregister();
    assert.equal(registry.resolve('gw', 22), old22);
    notFound(() => registry.resolve('gw~1', 22), /highest index/);
  });

  test('an owner ranks by its first registration, so a later port does not reorder', () => {
    const registry = new TunnelRegistry();
    const a = owner('a');
    const b = owner('b');
    const a22 = provider();
    const a80 = provider();
    registry.register(['gw'], 22, a22, a);
    registry.register(['gw'], 22, provider(), b);
    registry.register(['gw'], 80, a80, a);
    assert.equal(registry.resolve('gw~1', 80), a80);
    assert.notEqual(registry.resolve('gw', 22), a22);
  });

  test("an owner cancelling its first port keeps its place, so another owner's name does not move", () => {
    const registry = new TunnelRegistry();
    const a = owner('a');
    const a22 = registry.register(['gw'], 22, provider(), a);
    const b22 = provider();
    registry.register(['gw'], 22, b22, owner('b'));
    const a80 = provider();
    registry.register(['gw'], 80, a80, a);
    a22.unregister();
    assert.equal(registry.resolve('gw', 22), b22);
    assert.equal(registry.resolve('gw~1', 80), a80);
    assert.deepEqual(registry.list().map((row) => `${row.name}:${row.port}`), ['gw:22', 'gw~1:80']);
  });

  test('an owner that left and came back is the newest', () => {
    const registry = new TunnelRegistry();
    const a = owner('a');
    registry.register(['gw'], 22, provider(), a).unregister();
    const b22 = provider();
    registry.register(['gw'], 22, b22, owner('b'));
    const a22 = provider();
    registry.register(['gw'], 22, a22, a);
    assert.equal(registry.resolve('gw', 22), a22);
    assert.equal(registry.resolve('gw~1', 22), b22);
  });

  test('unregister removes every name; a second unregister is harmless', () => {
    const registry = new TunnelRegistry();
    const handle = registry.register(['gw', 'alias'], 22, provider(), owner('a'));
    handle.unregister();
    handle.unregister();
    notFound(() => registry.resolve('alias', 22), /Unknown name/);
    assert.deepEqual(registry.list(), []);
  });

  test('list shows names as they resolve now', () => {
    const registry = new TunnelRegistry();
    registry.register(['gw', 'x'], 22, provider(), owner('a'));
    registry.register(['gw'], 22, provider(), owner('b'));
    const rows = registry.list().map((r) => [r.name, r.aliases.join(','), r.port, r.owner.address]);
    assert.deepEqual(rows, [
      ['gw', '', 22, 'b'],
      ['gw~1', 'x', 22, 'a'],
    ]);
  });

  test('names match whatever their case, as host names do; list keeps the spelling registered', () => {
    const registry = new TunnelRegistry();
    const older = provider();
    const newer = provider();
    const first = registry.register(['Office', 'OFFICE', 'Desk'], 22, older, owner('a'));
    registry.register(['office'], 22, newer, owner('b'));
    assert.equal(registry.resolve('OFFICE', 22), newer);
    assert.equal(registry.resolve('Office~1', 22), older);
    assert.equal(registry.resolve('desk', 22), older);
    assert.equal(registry.has('oFFice~1'), true);
    assert.deepEqual(registry.list().map((r) => [r.name, r.aliases]), [['office', []], ['Office~1', ['Desk']]]);
    first.unregister();
    assert.equal(registry.has('office~1'), false);
    assert.equal(registry.find('Desk', 22), undefined);
  });

  test('portsUnder lists the ports anyone holds under any of the names', () => {
    const registry = new TunnelRegistry();
    registry.register(['gw'], 22, provider(), owner('a'));
    registry.register(['GW', 'other'], 49152, provider(), owner('b'));
    registry.register(['unrelated'], 80, provider(), owner('c'));
    assert.deepEqual([...registry.portsUnder(['gw'])].sort(), [22, 49152]);
    assert.deepEqual([...registry.portsUnder(['other', 'nobody'])], [49152]);
    assert.deepEqual([...registry.portsUnder(['nobody'])], []);
  });

  test('rejects invalid names and ports', () => {
    const registry = new TunnelRegistry();
    assert.throws(() => registry.register(['bad name'], 22, provider(), owner('a')), /Invalid endpoint name/);
    assert.throws(() => registry.register(['gw~1'], 22, provider(), owner('a')), /Invalid endpoint name/);
    // A listener must not pass itself off as a machine initiators reach by address.
    for (const address of ['127.0.0.1', '127.1', '0x7f.1', '2130706433', '10.0.0.5.', 'localhost', 'LocalHost', 'db.localhost']) {
      assert.throws(() => registry.register([address], 22, provider(), owner('a')), /reads as an address/, address);
    }
    for (const name of ['gw1', '1gw', 'a.0x7g', 'host-10.0.0.5']) registry.register([name], 22, provider(), owner('a'));
    assert.throws(() => registry.register(['gw'], 0, provider(), owner('a')), /Invalid virtual port/);
    assert.throws(() => registry.register([], 22, provider(), owner('a')), /at least one name/);
  });
});
