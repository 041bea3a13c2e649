import { pino } from 'pino';
import type { Logger } from 'pino';

import { prettyStream } from './log-format.js';
import type { LogFormat } from './log-format.js';

export type { Logger };

/** Paths whose values never reach a log line. */
const REDACTED = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  '*.password',
  '*.secret',
  '*.secret_key',
];

/** `format` json (one JSON object a line, for machines) or pretty (for a terminal). */
export function createLogger(options: { name: string; level?: string; destination?: 1 | 2; format?: LogFormat }): Logger {
  const dest = options.destination ?? 1;
  const settings = { name: options.name, level: options.level ?? 'info', redact: { paths: REDACTED, censor: '******' } };
  if (options.format === 'pretty') return pino(settings, prettyStream(dest === 1 ? process.stdout : process.stderr));
  return pino(settings, pino.destination({ dest, sync: false }));
}

/** pretty when a person is watching (a terminal), json otherwise. */
export function defaultLogFormat(destination: 1 | 2): LogFormat {
  return (destination === 1 ? process.stdout : process.stderr).isTTY ? 'pretty' : 'json';
}
