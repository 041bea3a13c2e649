/**
 * Connections and bytes of one kind of tunnel (forward, reverse, ssh, static...), counted
 * where the bytes are spliced, for metrics. Plain fields: the data path adds to them per
 * chunk, and a scrape reads them.
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

  /** One more connection, open now; the result counts it closed. */
  connectionOpened(): () => void {
    this.live++;
    this.opened++;
    return () => this.live--;
  }
}
