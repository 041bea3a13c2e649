#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { loadServerAuth } from '../common/auth-plugins.js';
import { EXIT, exitCodeFor, fail, parseCommandLine, parsePort } from '../common/cli-support.js';
import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { describeListenError } from '../common/tcp.js';
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
  const logger = createLogger({ name: 'netunnel_server', level: values.debug ? 'debug' : 'info' });
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
  const sshDoor = ssh ? await startSshFrontDoor({ ...ssh, registry: server.registry, logger }).catch((err: unknown) => failSsh(ssh, err)) : undefined;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info(`${signal} received; shutting down`);
      void Promise.all([server.close(), sshDoor?.close()]).then(() => process.exit(EXIT.OK));
    });
  }
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

await main(process.argv.slice(2));
