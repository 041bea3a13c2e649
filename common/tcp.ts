import net from 'node:net';
import { NetunnelError, errorMessage } from './errors.js';
import { connectRecycled } from './recycled-reads.js';

const CONNECT_TIMEOUT_MS = 10_000;

export interface ConnectTcpOptions {
  /** For a tunnel's exit: its reads reuse one buffer, and only splice() can take them. */
  recycledReads?: boolean;
}

/** Connects a TCP socket that carries half-close and sends small writes at once. */
export function connectTcp(host: string, port: number, options: ConnectTcpOptions = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const connectOptions = { host, port, allowHalfOpen: true, noDelay: true };
    const socket = options.recycledReads ? connectRecycled(connectOptions) : net.connect(connectOptions);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new NetunnelError('TIMEOUT', `connecting to ${formatAddress(host, port)} timed out`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new NetunnelError('SERVER_UNREACHABLE', `cannot connect to ${formatAddress(host, port)}: ${errorMessage(err)}`, { cause: err }));
    });
  });
}

/** Listens for tunnelled connections; resolves with the address actually bound. */
export function listenTcp(
  host: string,
  port: number,
  onConnection: (socket: net.Socket) => void,
): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, onConnection);
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new NetunnelError('BIND_FAILED', `cannot listen on ${formatAddress(host, port)}: ${describeListenError(err)}`, { cause: err }));
    });
    server.listen({ host, port }, () => {
      server.removeAllListeners('error');
      server.on('error', () => {});
      resolve(server);
    });
  });
}

/** Why a listen failed, in words. */
export function describeListenError(err: NodeJS.ErrnoException): string {
  if (err.code === 'EADDRINUSE') return 'address already in use';
  if (err.code === 'EADDRNOTAVAIL') return 'address not available on this machine';
  if (err.code === 'EACCES') return 'permission denied';
  return errorMessage(err);
}

/** `host:port`, with IPv6 literals in brackets. */
export function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
