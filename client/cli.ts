#!/usr/bin/env node
import { EXIT, fail, parseCommandLine, parsePort } from '../common/cli-support.js';
import { createLogger } from '../common/logger.js';
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
      --no-reconnect        exit when the tunnel is lost instead of reconnecting
      --auth-plugin MODULE  auth plugin module (not available yet)
      --auth-data JSON      options for the auth plugin
      --no-ssl-validate     do not verify the server's TLS certificate (not available yet)
      --proxy-url URL       HTTP proxy (not available yet)
      --proxy-username U    HTTP proxy user name
      --proxy-password P    HTTP proxy password
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
      'no-reconnect': { type: 'boolean', default: false },
      'auth-plugin': { type: 'string' },
      'auth-data': { type: 'string' },
      'no-ssl-validate': { type: 'boolean', default: false },
      'proxy-url': { type: 'string' },
      'proxy-username': { type: 'string' },
      'proxy-password': { type: 'string' },
      debug: { type: 'boolean', short: 'd', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(EXIT.OK);
  }
  for (const flag of ['auth-plugin', 'proxy-url', 'no-ssl-validate'] as const) {
    if (values[flag]) fail(PROGRAM, `--${flag} is not available yet in this version of netunnel`, EXIT.USAGE);
  }
  if (!/^https?:\/\/[^/]/i.test(values.server)) {
    fail(PROGRAM, `--server must be an http:// or https:// URL, got "${values.server}"`, EXIT.USAGE);
  }
  return values;
}

function tunnelRequest(values: ReturnType<typeof parse>): TunnelRequest {
  const remotePort = parsePort(PROGRAM, '--remote-port', values['remote-port'], values.reverse);
  const localPort = values['local-port'] === undefined ? undefined : parsePort(PROGRAM, '--local-port', values['local-port']);
  if (!values.reverse) {
    return {
      reverse: false,
      spec: { remoteAddress: values['remote-address'], remotePort, localAddress: values['local-address'], localPort },
    };
  }
  if (!localPort) fail(PROGRAM, '--local-port is required for a reverse tunnel', EXIT.USAGE);
  return {
    reverse: true,
    spec: { localAddress: values['local-address'], localPort, remoteAddress: values['remote-address'], remotePort },
  };
}

async function main(argv: string[]): Promise<void> {
  const values = parse(argv);
  const tunnel = tunnelRequest(values);
  const logger = createLogger({ name: 'netunnel_client', level: values.debug ? 'debug' : 'warn', destination: 2 });
  const stop = new AbortController();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());
  await runTunnelSession({
    client: { serverUrl: values.server, logger },
    tunnel,
    reconnect: !values['no-reconnect'],
    say: (line) => process.stdout.write(`${line}\n`),
    signal: stop.signal,
  }).catch((err: unknown) => fail(PROGRAM, err));
  logger.flush();
  process.exit(EXIT.OK);
}

await main(process.argv.slice(2));
