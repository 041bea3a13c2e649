/** Ends one live connection as an abort. */
export type Abort = (error: Error) => void;

/**
 * Connections and bytes of one kind of tunnel (forward, reverse, ssh, static...), counted
 * where the bytes are spliced, for metrics and for a shutdown, which waits for the live
 * ones and then aborts what is left. Plain fields: the data path adds to them per chunk,
 * and a scrape reads them.
 */
export class Traffic {
  /** Connections open now. */
  live = 0;
  /** Connections opened since start. */
  opened = 0;
  /** Bytes from the entrance towards the exit. */
  upstreamBytes = 0;
  /** Bytes from the exit back to the entrance. */
  downstreamBytes = 0;
  readonly #aborts = new Set<Abort>();

  /** One more connection, open now, which `abortAll` ends with `abort`; the result counts it closed. */
  connectionOpened(abort?: Abort): () => void {
    this.live++;
    this.opened++;
    if (abort) this.#aborts.add(abort);
    return () => {
      this.live--;
      if (abort) this.#aborts.delete(abort);
    };
  }

  /** Every connection still open (that said how) ends as an abort. */
  abortAll(error: Error): void {
    for (const abort of [...this.#aborts]) abort(error);
  }
}
