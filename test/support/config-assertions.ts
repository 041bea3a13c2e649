import assert from 'node:assert/strict';
import { NetunnelError } from '../../common/errors.js';

/** For assert.rejects/throws: a CONFIG_INVALID error whose message has every fragment. */
export function configInvalid(...fragments: string[]): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof NetunnelError, String(err));
    assert.equal(err.code, 'CONFIG_INVALID');
    for (const fragment of fragments) assert.ok(err.message.includes(fragment), `${err.message} ∌ ${fragment}`);
    return true;
  };
}
