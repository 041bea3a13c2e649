#!/usr/bin/env node
/**
 * `netunnel-security`: the counterpart of NETunnel's `python -m netunnel.common.security`
 * (wire spec §3.4), so keys and tokens can be made and checked without Python.
 */
import { Fernet } from './fernet.js';
import { NetunnelError, errorMessage } from './errors.js';

const PROG = 'netunnel-security';

const USAGE = `Usage: ${PROG} <command> [arguments]

Commands:
  generate-key         print a new Fernet key
  encrypt KEY DATA     print DATA encrypted as a Fernet token
  decrypt KEY TOKEN    print the plaintext of a Fernet token

Options:
  -h, --help           show this help

Arguments may start with '-' (keys often do); -- before DATA also works.
`;

/** Wrong command-line use: the message goes out with a pointer to --help and exit code 2. */
class UsageError extends Error {}

/**
 * Keys and data are free text, and a url-safe base64 key starts with '-' one time in 32:
 * so the only option is --help, and `--` may still mark where free text begins.
 */
function parse(argv: string[]): { help: boolean; positionals: string[] } {
  const separator = argv.indexOf('--');
  const before = separator === -1 ? argv : argv.slice(0, separator);
  const after = separator === -1 ? [] : argv.slice(separator + 1);
  return { help: before.some((arg) => arg === '-h' || arg === '--help'), positionals: [...before, ...after] };
}

function expectArgs(command: string, args: string[], names: string[]): void {
  if (args.length !== names.length) {
    const expected = [command, ...names].join(' ');
    throw new UsageError(`${command} takes ${names.length} argument(s): ${expected}`);
  }
}

function run(command: string, args: string[]): string | Buffer {
  switch (command) {
    case 'generate-key':
      expectArgs(command, args, []);
      return Fernet.generateKey();
    case 'encrypt':
      expectArgs(command, args, ['KEY', 'DATA']);
      return new Fernet(args[0]).encrypt(args[1]);
    case 'decrypt':
      expectArgs(command, args, ['KEY', 'TOKEN']);
      // Raw bytes, so plaintext that is not UTF-8 comes out unchanged.
      return new Fernet(args[0]).decrypt(args[1]);
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

function fail(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`${PROG}: ${err.message}\nTry '${PROG} --help'.\n`);
    return 2;
  }
  // Our own errors already read as sentences; anything else is still shown as one line.
  const message = err instanceof NetunnelError ? err.message : `unexpected error: ${errorMessage(err)}`;
  process.stderr.write(`${PROG}: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  return 1;
}

function main(argv: string[]): number {
  try {
    const { help, positionals } = parse(argv);
    if (help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length === 0) {
      process.stderr.write(USAGE);
      return 2;
    }
    const output = run(positionals[0], positionals.slice(1));
    process.stdout.write(output);
    process.stdout.write('\n');
    return 0;
  } catch (err) {
    return fail(err);
  }
}

// exitCode rather than exit(), so piped stdout is flushed before the process ends.
process.exitCode = main(process.argv.slice(2));
