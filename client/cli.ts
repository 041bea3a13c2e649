#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { loadClientAuth } from '../common/auth-plugins.js';
import { EXIT, exitCodeFor, fail, parseCommandLine, parseLogFormat, parsePort } from '../common/cli-support.js';
import { createLogger, defaultLogFormat } from '../common/logger.js';
import { tuneGarbageCollectorForRelaying } from '../common/gc-tuning.js';
import type { ClientTlsOptions, ProxyOptions } from '../common/proxy-connect.js';
import type { NetunnelClientOptions } from './client.js';
import { statusReport } from './status-command.js';
import { parseStdioTarget, runStdio } from './stdio.js';
import { runTunnelSession } from './tunnel-session.js';
import type { TunnelRequest } from './tunnel-session.js';

const PROGRAM = 'netunnel-client';

const USAGE = `Usage: ${PROGRAM} [options]

Opens a tunnel through a netunnel server. Forward (default): connections to
LOCAL-ADDRESS:LOCAL-PORT here reach REMOTE-ADDRESS:REMOTE-PORT from the server.
Reverse (-r): connections to REMOTE-ADDRESS:REMOTE-PORT on the server reach
LOCAL-ADDRESS:LOCAL-PORT from here.

Options:
  -s, --server URL          server URL (default http://127.0.0.1:4040)
      --local-address ADDR  forward: listen address; reverse: exit address (default 127.0.0.1)
      --local-port PORT     forward: listen port (default: any); reverse: exit port (required)
      --remote-address ADDR forward: exit address; reverse: listen address (default 127.0.0.1)
      --remote-port PORT    forward: exit port; reverse: listen port (default 22)
  -r, --reverse             reverse tunnel
      --name NAME           reverse: no listening socket on the server; register the
                            entrance as NAME:REMOTE-PORT in its tunnel registry, for
                            ssh -W NAME:PORT and forward tunnels to NAME (the server's
                            allowed_tunnel_names must list it)
      --no-reconnect        exit when the tunnel is lost instead of reconnecting
      --auth-plugin SPEC    auth plugin: shared-secret (built in), or MODULE[:Export]
                            (a path from the current folder, or a package)
      --auth-data JSON      the plugin's options, e.g. '{"secret": "..."}'
      --ca FILE             also trust the CA certificate(s) in FILE (PEM) for https:// servers
      --no-ssl-validate     do not verify the server's TLS certificate
      --proxy-url URL       HTTP proxy for every request and websocket (http://HOST:PORT)
      --proxy-username U    HTTP proxy user name (with --proxy-password)
      --proxy-password P    HTTP proxy password (with --proxy-username)
      --always-mask         mask every websocket frame with a random key, as RFC 6455
                            asks; by default frames over TLS, or to a server on this
                            host without a proxy, carry the all-zero key, since nothing
                            on the way can read them and masking costs a pass over
                            every byte
      --status              print the server's status (channels and their tunnels,
                            connections, peers) and exit; with --json, as JSON
      --json                with --status: print the JSON the server answers
      --stdio HOST:PORT     no listener: join ONE connection to HOST:PORT on the server's
                            side (an allowed destination or a registry name) to stdin and
                            stdout, e.g. ssh -o ProxyCommand='${PROGRAM} -s URL --stdio %h:%p'.
                            Errors are one line on stderr and exit status 255, as ssh -W
      --log-format FORMAT   json or pretty (default: pretty on a terminal, else json)
  -d, --debug               debug logging (on stderr)
  -h, --help                this help
`;

function parse(argv: string[]) {
  const { values } = parseCommandLine(PROGRAM, {
    args: argv,
    options: {
      server: { type: 'string', short: 's', default: 'http://127.0.0.1:4040' },
      'local-address': { type: 'string', default: '127.0.0.1' },
      'local-port': { type: 'string' },
      'remote-address': { type: 'string', default: '127.0.0.1' },
      'remote-port': { type: 'string', default: '22' },
      reverse: { type: 'boolean', short: 'r', default: false },
      name: { type: 'string' },
      'no-reconnect': { type: 'boolean', default: false },
      'auth-plugin': { type: 'string' },
      'auth-data': { type: 'string' },
      'no-ssl-validate': { type: 'boolean', default: false },
      ca: { type: 'string' },
      'proxy-url': { type: 'string' },
      'proxy-username': { type: 'string' },
      'proxy-password': { type: 'string' },
      'always-mask': { type: 'boolean', default: false },
      status: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      stdio: { type: 'string' },
      'log-format': { type: 'string' },
      debug: { type: 'boolean', short: 'd', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(EXIT.OK);
  }
  if ((values['proxy-username'] === undefined) !== (values['proxy-password'] === undefined)) {
    fail(PROGRAM, '--proxy-username and --proxy-password go together: give both or neither', EXIT.USAGE);
  }
  if (values['proxy-username'] !== undefined && values['proxy-url'] === undefined) {
    fail(PROGRAM, '--proxy-username and --proxy-password need --proxy-url', EXIT.USAGE);
  }
  if (values['proxy-url'] !== undefined) checkUrl('--proxy-url', values['proxy-url'], ['http:']);
  checkUrl('--server', values.server, ['http:', 'https:']);
  return values;
}

/**
 * A URL that does not parse (a port out of range, a bracket left open, a space) would
 * otherwise fail only when first used: retried forever as if the server were down.
 */
function checkUrl(option: string, value: string, protocols: readonly string[]): void {
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (url && protocols.includes(url.protocol) && url.hostname !== '') return;
  const kinds = protocols.map((protocol) => `${protocol}//`).join(' or ');
  fail(PROGRAM, `${option} must be an ${kinds} URL, got "${value}"`, EXIT.USAGE);
}

function tunnelRequest(values: ReturnType<typeof parse>): TunnelRequest {
  if (values.name !== undefined && !values.reverse) fail(PROGRAM, '--name is for reverse tunnels (-r)', EXIT.USAGE);
  // A name's port is what initiators ask for: the server cannot pick one.
  const remotePort = parsePort(PROGRAM, '--remote-port', values['remote-port'], values.reverse && values.name === undefined);
  const localPort = values['local-port'] === undefined ? undefined : parsePort(PROGRAM, '--local-port', values['local-port']);
  if (!values.reverse) {
    return {
      reverse: false,
      spec: { remoteAddress: values['remote-address'], remotePort, localAddress: values['local-address'], localPort },
    };
  }
  if (!localPort) fail(PROGRAM, '--local-port is required for a reverse tunnel', EXIT.USAGE);
  const name = values.name === undefined ? {} : { name: values.name };
  return {
    reverse: true,
    spec: { localAddress: values['local-address'], localPort, remoteAddress: values['remote-address'], remotePort, ...name },
  };
}

function proxyOptions(values: ReturnType<typeof parse>): ProxyOptions | undefined {
  const url = values['proxy-url'];
  if (url === undefined) return undefined;
  const username = values['proxy-username'];
  const password = values['proxy-password'];
  return { url, ...(username !== undefined && password !== undefined ? { username, password } : {}) };
}

async function tlsOptions(values: ReturnType<typeof parse>): Promise<ClientTlsOptions | undefined> {
  let ca: Buffer | undefined;
  if (values.ca !== undefined) {
    const path = values.ca;
    ca = await readFile(path).catch((err: NodeJS.ErrnoException) => fail(PROGRAM, `cannot read --ca ${path}: ${err.code ?? err.message}`, EXIT.USAGE));
    if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) fail(PROGRAM, `--ca ${path} holds no PEM certificate`, EXIT.USAGE);
  }
  if (ca === undefined && !values['no-ssl-validate']) return undefined;
  return { ...(ca ? { ca } : {}), ...(values['no-ssl-validate'] ? { rejectUnauthorized: false } : {}) };
}

/** Exit status of stdio mode's failures: ssh's own, so a ProxyCommand's failure reads like ssh -W's. */
const STDIO_FAILURE = 255;

async function stdioMode(values: ReturnType<typeof parse>, client: NetunnelClientOptions): Promise<never> {
  if (values.reverse || values.name !== undefined) fail(PROGRAM, '--stdio cannot be combined with -r or --name', EXIT.USAGE);
  let target;
  try {
    target = parseStdioTarget(values.stdio!);
  } catch (err) {
    fail(PROGRAM, err, EXIT.USAGE);
  }
  await runStdio({ client, target, stdin: process.stdin, stdout: process.stdout }).catch((err: unknown) => fail(PROGRAM, err, STDIO_FAILURE));
  client.logger.flush();
  process.exit(EXIT.OK);
}

async function main(argv: string[]): Promise<void> {
  const values = parse(argv);
  const proxy = proxyOptions(values);
  const tls = await tlsOptions(values);
  const auth = await loadClientAuth(values['auth-plugin'], values['auth-data']).catch((err: unknown) => fail(PROGRAM, err, exitCodeFor(err)));
  const format = parseLogFormat(PROGRAM, values['log-format']) ?? defaultLogFormat(2);
  // In stdio mode stderr is the ssh user's terminal: only the one-line error belongs there.
  const quiet = values.stdio !== undefined ? 'silent' : 'warn';
  const logger = createLogger({ name: 'netunnel_client', level: values.debug ? 'debug' : quiet, destination: 2, format });
  const clientOptions = { serverUrl: values.server, logger, ...(proxy ? { proxy } : {}), ...(tls ? { tls } : {}), ...(auth ? { auth } : {}), alwaysMask: values['always-mask'] };
  if (values.status) {
    process.stdout.write(await statusReport(clientOptions, values.json).catch((err: unknown) => fail(PROGRAM, err)));
    process.exit(EXIT.OK);
  }
  if (values.stdio !== undefined) return stdioMode(values, clientOptions);
  const tunnel = tunnelRequest(values);
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await runTunnelSession({
    client: clientOptions,
    tunnel,
    reconnect: !values['no-reconnect'],
    say: (line) => process.stdout.write(`${line}\n`),
    signal: stop.signal,
  }).catch((err: unknown) => fail(PROGRAM, err));
  logger.flush();
  process.exit(EXIT.OK);
}

tuneGarbageCollectorForRelaying();
await main(process.argv.slice(2));
