import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import { NetunnelError, errorMessage } from '../common/errors.js';
import { splice } from '../common/splice.js';
import { NetunnelClient } from './client.js';
import type { NetunnelClientOptions } from './client.js';

export interface StdioTarget {
  address: string;
  port: number;
}

/**
 * `HOST:PORT` as OpenSSH's ProxyCommand gives it (`%h:%p`): the port is after the last
 * colon, so a bare IPv6 address works too, as does `[v6]:port`.
 */
export function parseStdioTarget(text: string): StdioTarget {
  const match = /^(?:\[([^\]]+)\]|(.+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  const address = match?.[1] ?? match?.[2];
  if (!match || !address || port < 1 || port > 65535) {
    throw new NetunnelError('BAD_REQUEST', `--stdio needs HOST:PORT (e.g. gw1:22), got "${text}"`);
  }
  return { address, port };
}

/**
 * stdin and stdout as one byte stream. Ending it does not close stdout (Node keeps fd 1 for
 * the process): the reader sees EOF when the process exits, which follows at once.
 */
export function stdioStream(stdin: Readable, stdout: Writable): Duplex {
  const stream = new Duplex({
    allowHalfOpen: true,
    read() {
      stdin.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      stdout.write(chunk, callback);
    },
    final(callback) {
      callback();
    },
    destroy(err, callback) {
      stdin.off('data', onData);
      stdin.pause();
      callback(err);
    },
  });
  const onData = (chunk: Buffer) => {
    if (!stream.push(chunk)) stdin.pause();
  };
  stdin.on('data', onData);
  stdin.once('end', () => stream.push(null));
  stdin.once('error', (err) => stream.destroy(err));
  stdout.once('error', (err) => stream.destroy(err));
  return stream;
}

export interface StdioOptions {
  client: NetunnelClientOptions;
  target: StdioTarget;
  stdin: Readable;
  stdout: Writable;
}

/**
 * Joins one tunnelled connection to `target` with stdin/stdout (netunnel as an OpenSSH
 * ProxyCommand): stdin's EOF is carried as EOF, and it resolves once the far side has closed
 * and every byte reached stdout. Rejects, with a sentence for the user, when the connection
 * cannot be made or is aborted.
 */
export async function runStdio(options: StdioOptions): Promise<void> {
  const { address, port } = options.target;
  const client = new NetunnelClient(options.client);
  try {
    await client.connect();
    const remote = await client.openConnection({ address, port });
    const result = await splice(stdioStream(options.stdin, options.stdout), remote);
    if (remote.exitRefusal !== undefined) throw new NetunnelError('SERVER_UNREACHABLE', `cannot connect to ${address}:${port} from the server: ${remote.exitRefusal}`);
    if (result.error) {
      throw new NetunnelError('CHANNEL_CLOSED', `connection to ${address}:${port} aborted: ${errorMessage(result.error)}`, { cause: result.error });
    }
  } finally {
    await client.close();
  }
}
