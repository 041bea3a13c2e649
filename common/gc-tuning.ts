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
}
