import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { BaseAgent, Client, ServerHostKeyAlgorithm } from 'ssh2';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Originator } from '../tunnel-registry.js';
import { checkHostKey, knownHostKeyAlgorithms, knownHostsName } from './known-hosts.js';
import ssh2 from './ssh2.js';
import type { UpstreamTarget } from './upstream-rules.js';

/** Opens a byte stream to `host:port` the way initiators reach destinations (a registry name, else an allowed address). */
export interface StreamOpener {
  open(host: string, port: number, originator: Originator): Promise<Duplex>;
}

export interface UpstreamConnectOptions {
  opener: StreamOpener;
  originator: Originator;
  /** For the whole handshake, authentication included. */
  timeoutMs: number;
  logger: Logger;
  /** Opens a channel to the client's ssh-agent; given only when the upstream may use it. */
  agent?: () => Promise<Duplex>;
}

/** The client's ssh-agent, for the upstream's agent channels only: never for logging in upstream. */
class ForwardedAgent extends ssh2.BaseAgent {
  constructor(private readonly open: () => Promise<Duplex>) {
    super();
  }

  override getIdentities(cb: (err: Error | undefined, keys?: Buffer[]) => void): void {
    cb(undefined, []);
  }

  override sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error) => void): void {
    const callback = (typeof options === 'function' ? options : cb) as (err: Error) => void;
    callback(new Error('the forwarded agent does not sign for the server'));
  }

  override getStream(cb: (err: Error | undefined, stream?: Duplex) => void): void {
    this.open().then(
      (stream) => cb(undefined, stream),
      (err: Error) => cb(err),
    );
  }
}

/**
 * An authenticated SSH connection to `target`, over a stream from `opener`: the host key is
 * checked against the target's known_hosts file and the server logs in with the target's
 * private key. Rejects with a sentence for the user: unreachable, host key refused, or
 * authentication refused.
 */
export async function connectUpstream(target: UpstreamTarget, options: UpstreamConnectOptions): Promise<Client> {
  const where = `upstream ${knownHostsName(target.host, target.port)}`;
  const privateKey = await readFile(target.privateKeyPath).catch((err: NodeJS.ErrnoException) => {
    throw new NetunnelError('CONFIG_INVALID', `the server cannot read its private key for the ${where} (${err.code ?? err.message}); tell its operator`);
  });
  let sock: Duplex;
  try {
    sock = await options.opener.open(target.host, target.port, options.originator);
  } catch (err) {
    throw new NetunnelError('SERVER_UNREACHABLE', `cannot reach the ${where}: ${errorMessage(err)}`, { cause: err });
  }
  // SSH has no use for a half-open connection, and ssh2 does not close one: the upstream's FIN
  // would leave the socket (and every session on it) hanging.
  sock.once('end', () => sock.destroy());
  const preferred = await knownHostKeyAlgorithms(target.knownHostsPath, target.host, target.port).catch(() => []);
  return handshake(sock, privateKey, target, where, { ...options, preferred });
}

function handshake(
  sock: Duplex,
  privateKey: Buffer,
  target: UpstreamTarget,
  where: string,
  options: UpstreamConnectOptions & { preferred: ServerHostKeyAlgorithm[] },
): Promise<Client> {
  const client = new ssh2.Client();
  let hostKeyProblem: string | undefined;
  const hostVerifier = (key: Buffer, verify: (ok: boolean) => void): void => {
    checkHostKey(target.knownHostsPath, target.host, target.port, key, target.trustOnFirstUse).then(
      (verdict) => {
        if (!verdict.ok) hostKeyProblem = verdict.reason;
        else if (verdict.learned) options.logger.info(`Learned the host key of the ${where} (trust on first use) into ${target.knownHostsPath}`);
        verify(verdict.ok);
      },
      (err: unknown) => {
        hostKeyProblem = errorMessage(err);
        verify(false);
      },
    );
  };
  return new Promise((resolve, reject) => {
    const fail = (err: Error & { level?: string }) => {
      client.removeListener('ready', onReady);
      client.end();
      sock.destroy();
      reject(upstreamError(err, where, target.user, hostKeyProblem));
    };
    const onReady = () => {
      client.removeListener('error', fail);
      client.removeListener('close', onClose);
      client.on('error', (err) => options.logger.debug({ err: errorMessage(err) }, `${where} connection error`));
      resolve(client);
    };
    const onClose = () => fail(new Error('the connection closed during the SSH handshake'));
    client.once('ready', onReady);
    client.once('error', fail);
    client.once('close', onClose);
    client.connect({
      sock,
      username: target.user,
      privateKey,
      hostVerifier: hostVerifier as unknown as (key: Buffer) => boolean,
      readyTimeout: options.timeoutMs,
      ident: 'netunnel',
      // Moved to the front: ssh2's prepend alone skips what its list already has.
      ...(options.preferred.length > 0 ? { algorithms: { serverHostKey: { remove: options.preferred, prepend: options.preferred, append: [] } } } : {}),
      // The server's own key only: a forwarded agent is for the user's hops beyond.
      authHandler: ['publickey'],
      ...(options.agent ? { agent: new ForwardedAgent(options.agent) as unknown as BaseAgent, agentForward: true } : {}),
    });
  });
}

function upstreamError(err: Error & { level?: string }, where: string, user: string, hostKeyProblem: string | undefined): NetunnelError {
  if (hostKeyProblem) return new NetunnelError('HOST_KEY_REJECTED', `refusing the ${where}: ${hostKeyProblem}`);
  if (err.level === 'client-authentication') return new NetunnelError('AUTH_FAILED', `the ${where} refused the server's key for user "${user}"`);
  if (err.level === 'client-timeout') return new NetunnelError('TIMEOUT', `the ${where} did not complete the SSH handshake in time`);
  return new NetunnelError('SERVER_UNREACHABLE', `the ${where} failed: ${err.message}`);
}
