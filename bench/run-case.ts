import type { BenchCase } from './cases.js';
import { cleanup } from './cleanup.js';

/** What every row of every table has: which case, and whether it ran. */
export interface RowBase {
  id: string;
  label: string;
  processes: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why it was skipped or how it failed. */
  note?: string;
}

/**
 * Runs `body` for one case and turns its outcome into a row: skipped when the case cannot run
 * here, failed (with a one-line note) when `body` throws; everything started is stopped after.
 */
export async function runCase<T extends object>(
  benchCase: BenchCase,
  body: (base: RowBase) => Promise<T>,
  skip?: string,
): Promise<RowBase & Partial<T>> {
  const base: RowBase = { id: benchCase.id, label: benchCase.label, processes: benchCase.processes, status: 'ok' };
  const unavailable = skip ?? benchCase.unavailable?.();
  if (unavailable) return { ...base, status: 'skipped', note: unavailable } as RowBase & Partial<T>;
  try {
    return { ...base, ...(await body(base)) };
  } catch (err) {
    const reason = (err as Error).message;
    // The table keeps one line; the whole story (a process's output, say) goes with the progress.
    process.stderr.write(`${benchCase.label} failed: ${reason}\n`);
    const message = reason.trim().replace(/\s*\n\s*/g, ' / ').replaceAll('|', '\\|');
    const note = message.length > 400 ? `${message.slice(0, 400)}...` : message;
    return { ...base, status: 'failed', note } as RowBase & Partial<T>;
  } finally {
    await cleanup();
  }
}
