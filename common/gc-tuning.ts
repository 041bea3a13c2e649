import v8 from 'node:v8';

/**
 * Called once by the client and server CLIs, before any traffic.
 *
 * Relaying allocates a fresh 64 KiB buffer per socket read (and ws one more per masked frame).
 * In these processes (measured: loading undici is enough to tip it) V8 then keeps starting
 * incremental marking on its allocation-limit heuristic: a major GC every ~10 MB moved, whose
 * concurrent marking took about half the client's CPU per GiB (bench/RESULTS.md). The buffers
 * all die young and scavenges free them; without incremental marking, major GCs run only when
 * the old generation really fills up, as atomic pauses (a few ms for these heaps).
 * V8 reads this flag at each allocation-limit check, so setting it at run time takes effect.
 */
export function tuneGarbageCollectorForRelaying(): void {
  v8.setFlagsFromString('--no-incremental-marking');
  keepFreedReadBuffersMapped();
}

/**
 * The 64 KiB read buffers die together at each scavenge, about every 15 MB moved. glibc then
 * finds that much free memory at the top of its heap, returns it to the kernel (its trim
 * threshold is 128 KiB), and the next reads fault the same pages in again, zeroed: page
 * faults and cold-cache copies were a tenth of a relay's CPU (bench/RESULTS.md). glibc raises
 * the trim threshold to twice the size of a freed mmap'd block (mallopt(3), dynamic
 * threshold), so one 16 MiB block, never touched and freed at the next GC, lets it keep
 * 32 MiB of freed heap mapped instead. Elsewhere than glibc this costs one untouched mapping.
 */
function keepFreedReadBuffersMapped(): void {
  Buffer.allocUnsafeSlow(16 * 1024 * 1024);
}
