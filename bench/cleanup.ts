/**
 * Everything the bench starts registers how to stop it here; `cleanup()` stops it all (newest
 * first) after each case, on failure, and on SIGINT/SIGTERM.
 */

type Stop = () => Promise<unknown>;

const stops: Stop[] = [];

export function onCleanup(stop: Stop): void {
  stops.push(stop);
}

export async function cleanup(): Promise<void> {
  while (stops.length > 0) {
    const stop = stops.pop()!;
    try {
      await stop();
    } catch (err) {
      process.stderr.write(`cleanup: ${(err as Error).message}\n`);
    }
  }
}

let interruptedBy: NodeJS.Signals | undefined;

/** The signal that interrupted the bench, if one did: its results are then incomplete. */
export function interrupted(): NodeJS.Signals | undefined {
  return interruptedBy;
}

/** On SIGINT/SIGTERM: stop every process started, then exit (128 + signal number). */
export function cleanupOnSignals(): void {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      interruptedBy = signal;
      process.exitCode = code;
      process.stderr.write(`\n${signal}: stopping everything the bench started\n`);
      void cleanup().finally(() => process.exit(code));
    });
  }
}
