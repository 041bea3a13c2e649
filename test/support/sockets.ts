import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  port: number;
  server: net.Server;
  sockets: Set<net.Socket>;
  close(): Promise<void>;
}

/** A loopback TCP server; every accepted socket is tracked and destroyed on close. */
export async function listen(onConnection: (socket: net.Socket) => void): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    server,
    sockets,
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Echoes everything and carries half-close: EOF in, then EOF out once the echo is written. */
export function echoServer(): Promise<TestServer> {
  return listen((socket) => socket.pipe(socket));
}

/** Replies to a whole request (read to EOF) with `reply(request)`, then ends. */
export function requestReplyServer(reply: (request: Buffer) => Buffer): Promise<TestServer> {
  return listen((socket) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => socket.end(reply(Buffer.concat(chunks))));
  });
}

/** A loopback port nobody listens on (just released): for what needs a number before it starts. */
export async function freePort(): Promise<number> {
  const probe = await listen(() => {});
  await probe.close();
  return probe.port;
}

export function connect(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen: true }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Reads a socket to its end (or close); resolves with everything read. */
export function readAll(socket: net.Socket, timeoutMs = 30_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error(`read timed out after ${Buffer.concat(chunks).length} bytes`)), timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    socket.once('end', done);
    socket.once('close', done);
    socket.once('error', () => {});
  });
}

/** Resolves with how the socket's reading side ended: `'clean end'`, or the error's code (`'ECONNRESET'`). */
export function howItEnds(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('end', () => resolve('clean end'));
  });
}

/** Sends `request`, half-closes, and resolves with the whole reply. */
export async function exchange(port: number, request: Buffer, timeoutMs?: number): Promise<Buffer> {
  const socket = await connect(port);
  const reply = readAll(socket, timeoutMs);
  socket.end(request);
  const result = await reply;
  socket.destroy();
  return result;
}

/** True when a connection to the port is refused (or reset before it is usable). */
export async function isRefused(port: number): Promise<boolean> {
  try {
    const socket = await connect(port);
    socket.destroy();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export { randomBytes };

/**
 * Polls `condition` until true, or fails after `timeoutMs`. A function `what` is called only
 * then, so a message can tell the state at the failure rather than at the start.
 */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000, what: string | (() => string) = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
