#!/usr/bin/env node
import { EXIT, exitCodeFor, fail, parseCommandLine, parsePort } from '../common/cli-support.js';
import { createLogger } from '../common/logger.js';
import { describeListenError } from '../common/tcp.js';
import { createConfigFile } from './config/create-command.js';
import { ConfigStore, STATELESS_WARNING } from './config/store.js';
import { NetunnelServer } from './server.js';

const PROGRAM = 'netunnel-server';

const USAGE = `Usage: ${PROGRAM} [options]
       ${PROGRAM} config create PATH [--custom-changes JSON]

Options:
  -p, --port PORT          port to listen on (default 4040)
      --hostname HOST      address to listen on (default 127.0.0.1)
  -c, --config-path PATH   config file, created with the defaults if missing
                           (without it the server is stateless)
  -s, --secret-key KEY     Fernet key for the config's secrets (kept in memory only)
      --auth-plugin MODULE auth plugin module (not available yet)
      --auth-data JSON     options for the auth plugin
  -d, --debug              debug logging
  -h, --help               this help
`;

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'config') return configCommand(argv.slice(1));
  const { values } = parseCommandLine(PROGRAM, {
    args: argv,
    options: {
      port: { type: 'string', short: 'p', default: '4040' },
      hostname: { type: 'string', default: '127.0.0.1' },
      'config-path': { type: 'string', short: 'c' },
      'secret-key': { type: 'string', short: 's' },
      'auth-plugin': { type: 'string' },
      'auth-data': { type: 'string' },
      debug: { type: 'boolean', short: 'd', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (values['auth-plugin'] !== undefined) {
    fail(PROGRAM, '--auth-plugin is not available yet in this version of netunnel', EXIT.USAGE);
  }
  const port = parsePort(PROGRAM, '--port', values.port);
  const logger = createLogger({ name: 'netunnel_server', level: values.debug ? 'debug' : 'info' });
  const store = await ConfigStore.open({ path: values['config-path'], secretKey: values['secret-key'], logger }).catch(
    (err: unknown) => fail(PROGRAM, err, exitCodeFor(err)),
  );
  if (store.stateless) process.stdout.write(`\x1b[33m${STATELESS_WARNING}\x1b[0m\n`);
  logger.info(`Starting server on ${values.hostname}:${port}`);
  const server = await NetunnelServer.start({ host: values.hostname, port, logger, config: store }).catch(
    (err: unknown) => fail(PROGRAM, `cannot listen on ${values.hostname}:${port}: ${describeListenError(err as NodeJS.ErrnoException)}`),
  );
  logger.info({ url: server.url }, `netunnel server listening on ${server.url}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info(`${signal} received; shutting down`);
      void server.close().then(() => process.exit(EXIT.OK));
    });
  }
}

async function configCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(PROGRAM, {
    args: argv,
    options: { 'custom-changes': { type: 'string' } },
    allowPositionals: true,
  });
  if (positionals[0] !== 'create' || positionals.length !== 2) {
    fail(PROGRAM, 'usage: netunnel-server config create PATH [--custom-changes JSON]', EXIT.USAGE);
  }
  await createConfigFile(positionals[1]!, values['custom-changes']).catch((err: unknown) => fail(PROGRAM, err, exitCodeFor(err)));
  process.stdout.write(`Config written to ${positionals[1]}\n`);
}

await main(process.argv.slice(2));
