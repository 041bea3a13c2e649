import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pooledRandomFill } from '../server/ssh/ssh2.js';

test('pooled padding fills exactly the bytes asked for, and never hands out the same bytes twice', () => {
  const PIECE = 200;
  const PIECES = 400; // 80 000 bytes: the 16 KiB pool is refilled several times
  const out = Buffer.alloc(PIECE * PIECES + 2, 0xaa);
  for (let i = 0; i < PIECES; i++) pooledRandomFill(out, 1 + i * PIECE, PIECE);
  assert.equal(out[0], 0xaa, 'the byte before the first piece is untouched');
  assert.equal(out[out.length - 1], 0xaa, 'the byte after the last piece is untouched');
  const pieces = new Set<string>();
  for (let i = 0; i < PIECES; i++) pieces.add(out.subarray(1 + i * PIECE, 1 + (i + 1) * PIECE).toString('hex'));
  assert.equal(pieces.size, PIECES, 'every piece is different');
  // Uniform random bytes: each value close to 1/256 of the total.
  const counts = new Array<number>(256).fill(0);
  for (const byte of out.subarray(1, out.length - 1)) counts[byte]!++;
  const expected = (PIECE * PIECES) / 256;
  assert.ok(counts.every((n) => n > expected / 2 && n < expected * 2), 'byte values are spread evenly');
});

test('pooled padding passes requests that are not padding to randomFillSync', () => {
  const key = new Uint8Array(32);
  assert.equal(pooledRandomFill(key), key);
  assert.ok(key.some((byte) => byte !== 0));
  const large = Buffer.alloc(1000);
  pooledRandomFill(large, 0, 1000);
  assert.ok(large.subarray(900).some((byte) => byte !== 0), 'a large fill is filled to its end');
});

/**
 * In a fresh process: counts the calls node:crypto's randomFillSync gets while ssh2, loaded
 * through server/ssh/ssh2.js, sends 2 MiB over a channel (64 packets or more), and in all.
 */
const CHILD = `
import crypto from 'node:crypto';
const calls = { small: 0, pool: 0 };
const original = crypto.randomFillSync;
const counting = (buffer, offset, size) => {
  if (size !== undefined && size <= 255) calls.small++;
  else if (buffer.length === 16384) calls.pool++;
  return original(buffer, offset, size);
};
crypto.randomFillSync = counting;
const { default: ssh2 } = await import(process.argv[1]);
if (crypto.randomFillSync !== counting) throw new Error('node:crypto was left changed');
const { generateEd25519Key } = await import(process.argv[2]);
const hostKey = generateEd25519Key().private;
const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
  client.on('authentication', (ctx) => ctx.accept());
  client.on('ready', () => client.on('tcpip', (accept) => {
    const channel = accept();
    channel.end(Buffer.alloc(2 * 1024 * 1024));
  }));
});
server.listen(0, '127.0.0.1', () => {
  const client = new ssh2.Client();
  client.on('ready', () => {
    const before = { ...calls };
    client.forwardOut('127.0.0.1', 1, '127.0.0.1', 2, (err, channel) => {
      if (err) throw err;
      let received = 0;
      channel.on('data', (chunk) => (received += chunk.length));
      channel.on('close', () => {
        console.log(JSON.stringify({ received, small: calls.small - before.small, pool: calls.pool }));
        client.end();
        server.close();
      });
    });
  });
  client.connect({ host: '127.0.0.1', port: server.address().port, username: 'bench', algorithms: { cipher: ['aes128-gcm@openssh.com'] } });
});
`;

test('ssh2 loaded through server/ssh/ssh2.js pads its packets from the pool, and node:crypto is left as it was', async () => {
  const module = fileURLToPath(new URL('../server/ssh/ssh2.js', import.meta.url));
  const keys = fileURLToPath(new URL('../server/ssh/ed25519-key.js', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', CHILD, module, keys], { timeout: 30_000 });
  const result = JSON.parse(stdout) as { received: number; small: number; pool: number };
  assert.equal(result.received, 2 * 1024 * 1024);
  assert.equal(result.small, 0, 'no packet asked randomFillSync for its padding');
  assert.ok(result.pool >= 1, 'the pool was filled from randomFillSync');
});
