import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { NetunnelError, errorMessage } from './errors.js';
import { LOG_FORMATS } from './log-format.js';
import type { LogFormat } from './log-format.js';

/** Exit codes shared by the command-line tools. */
export const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 } as const;

/** A one-line reason on stderr and an exit code: what a CLI user gets instead of a stack trace. */
export function fail(program: string, err: unknown, code: number = EXIT.FAILURE): never {
  process.stderr.write(`${program}: ${errorMessage(err)}\n`);
  process.exit(code);
}

/** parseArgs (strict), with a usage error reported as one line and exit code 2. */
export function parseCommandLine<T extends ParseArgsConfig>(program: string, config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ strict: true, ...config });
  } catch (err) {
    // parseArgs says some things over several lines; a usage error is one.
    fail(program, `${errorMessage(err).split(/\s*\n\s*/).join(' ')} (see --help)`, EXIT.USAGE);
  }
}

/** --log-format's value, or a usage error; undefined when not given. */
export function parseLogFormat(program: string, value: string | undefined): LogFormat | undefined {
  if (value === undefined) return undefined;
  if (!(LOG_FORMATS as readonly string[]).includes(value)) fail(program, `--log-format must be ${LOG_FORMATS.join(' or ')}, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return value as LogFormat;
}

/** A whole-number port from a flag, or a usage error. */
export function parsePort(program: string, flag: string, value: string, allowZero = true): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535 || (!allowZero && port === 0)) {
    fail(program, `${flag} must be a port number (${allowZero ? 0 : 1}-65535), got "${value}"`, EXIT.USAGE);
  }
  return port;
}

/** An exit code for an error: configuration and input problems are usage errors. */
export function exitCodeFor(err: unknown): number {
  return err instanceof NetunnelError && (err.code === 'BAD_REQUEST' || err.code.startsWith('CONFIG')) ? EXIT.USAGE : EXIT.FAILURE;
}
