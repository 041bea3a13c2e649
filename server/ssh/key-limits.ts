import { NetunnelError } from '../../common/errors.js';

export const DEFAULT_MAX_FORWARDS_PER_KEY = 100;
export const DEFAULT_MAX_CIRCUITS_PER_KEY = 1000;

/**
 * How many of something (virtual ports, open circuits) each SSH key holds, over all of its
 * connections: a key shared by many machines, or one reconnecting in a loop, cannot exhaust
 * the server for everyone else.
 */
export class PerKeyLimit {
  readonly #inUse = new Map<string, number>();

  /** `what` names the thing in messages (e.g. "forwarded ports"), `setting` the config key. */
  constructor(
    readonly max: number,
    private readonly what: string,
    private readonly setting: string,
  ) {}

  /** Takes one for `fingerprint`; the returned function gives it back (once, however often called). */
  take(fingerprint: string): () => void {
    const count = this.#inUse.get(fingerprint) ?? 0;
    if (count >= this.max) {
      throw new NetunnelError('LIMIT_REACHED', `this key already has ${count} ${this.what}, the most allowed (ssh ${this.setting})`);
    }
    this.#inUse.set(fingerprint, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inUse.get(fingerprint) ?? 1) - 1;
      if (left > 0) this.#inUse.set(fingerprint, left);
      else this.#inUse.delete(fingerprint);
    };
  }
}
