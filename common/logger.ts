import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
const REDACTED = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  '*.password',
  '*.secret',
  '*.secret_key',
];

export function createLogger(options: { name: string; level?: string; destination?: number }): Logger {
  return pino(
    { name: options.name, level: options.level ?? 'info', redact: { paths: REDACTED, censor: '******' } },
    pino.destination({ dest: options.destination ?? 1, sync: false }),
  );
}
