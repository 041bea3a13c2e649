import crypto from 'node:crypto';
import { createRequire } from 'node:module';

/** Random bytes fetched at once; a packet's padding takes 4 to 255 of them. */
const POOL_BYTES = 16 * 1024;
/** Larger requests (keys, nonces) are not padding: they go to `randomFillSync` itself. */
const PADDING_MAX_BYTES = 255;

const randomFillSync = crypto.randomFillSync;
const pool = Buffer.alloc(POOL_BYTES);
let used = POOL_BYTES;

/**
 * `randomFillSync` for the small fills ssh2 asks for every packet's padding: served from a
 * pool filled by one call, each byte handed out once. Node's `randomFillSync` costs a few
 * microseconds a call whatever the size, and ssh2 calls it for each 32 KiB packet it sends:
 * in the switchboard benchmark the pool took 2-7% off the CPU per GiB and added 4-9% to the
 * throughput (bench/RESULTS.md). The bytes are the same CSPRNG output, only fetched in bulk.
 */
export function pooledRandomFill<T extends NodeJS.ArrayBufferView>(buffer: T, offset = 0, size?: number): T {
  if (!Buffer.isBuffer(buffer) || size === undefined || size > PADDING_MAX_BYTES) return randomFillSync(buffer, offset, size);
  if (used + size > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  pool.copy(buffer, offset, used, used + size);
  used += size;
  return buffer;
}

/**
 * ssh2 takes `randomFillSync` from node:crypto once, when it loads, so it is handed the pooled
 * one only for that moment: nothing else in the process sees it. Every module of the server
 * that needs ssh2 at run time imports it from here, so that it is loaded this way first.
 */
function loadSsh2(): typeof import('ssh2') {
  const require = createRequire(import.meta.url);
  crypto.randomFillSync = pooledRandomFill;
  try {
    return require('ssh2') as typeof import('ssh2');
  } finally {
    crypto.randomFillSync = randomFillSync;
  }
}

const ssh2 = loadSsh2();
export default ssh2;
