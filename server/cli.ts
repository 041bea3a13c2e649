#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { loadServerAuth } from '../common/auth-plugins.js';
import { EXIT, exitCodeFor, fail, parseCommandLine, parseLogFormat, parsePort } from '../common/cli-support.js';
import { errorMessage } from '../common/errors.js';
import { createLogger, defaultLogFormat } from '../common/logger.js';
import type { Logger } from '../common/logger.js';
import { describeListenError } from '../common/tcp.js';
import { tuneGarbageCollectorForRelaying } from '../common/gc-tuning.js';
import { createConfigFile } from './config/create-command.js';
import { ConfigStore, STATELESS_WARNING } from './config/store.js';
import { NetunnelServer } from './server.js';
import { startSshFrontDoor } from './ssh/front-door.js';
import { sshSettings } from './ssh/settings.js';
import type { SshFlags, SshSettings } from './ssh/settings.js';

const PROGRAM = 'netunnel-server';

const USAGE = `Usage: ${PROGRAM} [options]
       ${PROGRAM} config create PATH [--custom-changes JSON]

Options:
  -p, --port PORT          port to listen on (default 4040)
      --hostname HOST      address to listen on (default 127.0.0.1)
  -c, --config-path PATH   config file, created with the defaults if missing
                           (without it the server is stateless)
  -s, --secret-key KEY     Fernet key for the config's secrets (kept in memory only)
      --tls-cert FILE      serve HTTPS/WSS with this certificate (PEM; with --tls-key)
      --tls-key FILE       the certificate's private key (PEM; with --tls-cert)
      --ssh-port PORT      also run the SSH front door on this port (e.g. 1878)
      --ssh-host HOST      address for the SSH front door (default: --hostname)
      --ssh-host-key FILE  SSH host key, generated if missing (default: ssh_host_key
                           beside the config file, else in the current folder)
      --ssh-authorized-keys FILE  OpenSSH authorized_keys with access="listen"/"initiate"
                           (required with --ssh-port)
                           The config file's "ssh" section sets the same (and per-key
                           limits); these flags override it.
      --auth-plugin SPEC   auth plugin: shared-secret (built in), or MODULE[:Export]
                           (a path from the current folder, or a package)
      --auth-data JSON     the plugin's options, e.g. '{"secret": "..."}'
      --shutdown-grace SECONDS  on SIGTERM/SIGINT, how long open connections may
                           finish before they are cut (default 10; a second
                           signal stops at once)
      --log-format FORMAT  json or pretty (default: pretty on a terminal, else json)
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
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'ssh-port': { type: 'string' },
      'ssh-host': { type: 'string' },
      'ssh-host-key': { type: 'string' },
      'ssh-authorized-keys': { type: 'string' },
      'shutdown-grace': { type: 'string', default: '10' },
      'log-format': { type: 'string' },
      debug: { type: 'boolean', short: 'd', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const auth = await loadServerAuth(values['auth-plugin'], values['auth-data']).catch((err: unknown) => fail(PROGRAM, err, exitCodeFor(err)));
  const port = parsePort(PROGRAM, '--port', values.port);
  const sshPort = values['ssh-port'] === undefined ? undefined : parsePort(PROGRAM, '--ssh-port', values['ssh-port']);
  const tls = await readTls(values['tls-cert'], values['tls-key']);
  const graceMs = parseSeconds(values['shutdown-grace'], '--shutdown-grace') * 1000;
  const format = parseLogFormat(PROGRAM, values['log-format']) ?? defaultLogFormat(1);
  const logger = createLogger({ name: 'netunnel_server', level: values.debug ? 'debug' : 'info', format });
  const store = await ConfigStore.open({ path: values['config-path'], secretKey: values['secret-key'], logger }).catch(
    (err: unknown) => fail(PROGRAM, err, exitCodeFor(err)),
  );
  const ssh = sshSettingsOrFail(values, sshPort, store);
  if (store.stateless) process.stdout.write(`\x1b[33m${STATELESS_WARNING}\x1b[0m\n`);
  logger.info(`Starting server on ${values.hostname}:${port}`);
  const server = await NetunnelServer.start({ host: values.hostname, port, logger, config: store, ...(tls ? { tls } : {}), ...(auth ? { auth } : {}) }).catch(
    (err: unknown) => fail(PROGRAM, `cannot listen on ${values.hostname}:${port}: ${describeListenError(err as NodeJS.ErrnoException)}`),
  );
  logger.info({ url: server.url }, `netunnel server listening on ${server.url}`);
  const sshDoor = ssh
    ? await startSshFrontDoor({
        ...ssh,
        registry: server.registry,
        destinations: server.destinations,
        logger,
        traffic: server.metrics.traffic.ssh,
        onAuthFailure: () => server.metrics.authFailed('ssh'),
      }).catch((err: unknown) => failSsh(ssh, err))
    : undefined;
  if (sshDoor) server.watchSsh(sshDoor);
  stopOnSignals(logger, graceMs, async () => {
    sshDoor?.stopListening();
    await server.close({ graceMs });
    await sshDoor?.close();
  });
}

/** The first signal stops gracefully (exit 0); a second one stops at once. */
function stopOnSignals(logger: Logger, graceMs: number, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} received again; stopping now`);
      logger.flush();
      process.exit(EXIT.FAILURE);
    }
    stopping = true;
    logger.info(`${signal} received; shutting down (open connections have ${graceMs / 1000} s to finish)`);
    stop().then(
      () => process.exit(EXIT.OK),
      (err: unknown) => fail(PROGRAM, `shutdown failed: ${errorMessage(err)}`),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

function parseSeconds(value: string, flag: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) fail(PROGRAM, `${flag} must be a number of seconds (0 or more), got ${JSON.stringify(value)}`, EXIT.USAGE);
  return seconds;
}

/** The certificate and key for --tls-cert/--tls-key: both or neither, readable, and a matching pair. */
async function readTls(certPath: string | undefined, keyPath: string | undefined): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) fail(PROGRAM, '--tls-cert and --tls-key go together: give both or neither', EXIT.USAGE);
  const read = (flag: string, path: string) =>
    readFile(path).catch((err: NodeJS.ErrnoException) => fail(PROGRAM, `cannot read ${flag} ${path}: ${err.code ?? err.message}`, EXIT.USAGE));
  const cert = await read('--tls-cert', certPath);
  const key = await read('--tls-key', keyPath);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    fail(PROGRAM, `--tls-cert ${certPath} and --tls-key ${keyPath} are not a usable certificate and key: ${errorMessage(err)}`, EXIT.USAGE);
  }
  return { cert, key };
}

/** The SSH front door's settings from flags and config, checked before anything listens. */
function sshSettingsOrFail(flags: SshFlags, port: number | undefined, store: ConfigStore): SshSettings | undefined {
  try {
    return sshSettings(flags, port, store.config.ssh);
  } catch (err) {
    fail(PROGRAM, err, EXIT.USAGE);
  }
}

function failSsh(ssh: SshSettings, err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  if (e.syscall === 'listen') fail(PROGRAM, `cannot listen on ${ssh.host}:${ssh.port} (SSH): ${describeListenError(e)}`);
  fail(PROGRAM, err, exitCodeFor(err));
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

tuneGarbageCollectorForRelaying();
await main(process.argv.slice(2));
