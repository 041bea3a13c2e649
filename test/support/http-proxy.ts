import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxy } from 'proxy';

export interface TestHttpServer {
  url: string;
  port: number;
  /** `METHOD url` of every request received, in order. */
  seen: string[];
  close(): Promise<void>;
}

export interface TestProxy extends TestHttpServer {
  /** How many requests passed the Basic credentials check (all of them when there is none). */
  authorized: number;
}

/** A real forward proxy (the npm `proxy` package, absolute form and CONNECT) on loopback. */
export async function startProxy(credentials?: { username: string; password: string }): Promise<TestProxy> {
  const server = createProxy(http.createServer());
  const result: TestProxy = { ...(await serve(server)), authorized: 0 };
  server.on('connect', (request: http.IncomingMessage) => result.seen.push(`CONNECT ${request.url}`));
  const expected = credentials && `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  server.authenticate = (request) => {
    const ok = expected === undefined || request.headers['proxy-authorization'] === expected;
    if (ok) result.authorized += 1;
    return ok;
  };
  return result;
}

/**
 * An HTTP server answering `GET /status/<n>` with status n, `/redirect` with a 302 to `/`,
 * anything else with 200; `via` records the Via headers seen.
 */
export async function startTarget(): Promise<TestHttpServer & { via: string[] }> {
  const via: string[] = [];
  const server = http.createServer((request, response) => {
    via.push(String(request.headers.via ?? ''));
    if (request.url === '/redirect') return void response.writeHead(302, { location: '/' }).end();
    const status = Number(/^\/status\/(\d{3})$/.exec(request.url ?? '')?.[1] ?? 200);
    response.writeHead(status, { 'content-type': 'text/plain' }).end('target');
  });
  return { ...(await serve(server)), via };
}

async function serve(server: http.Server): Promise<TestHttpServer> {
  const sockets = new Set<Socket>();
  const seen: string[] = [];
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (request: http.IncomingMessage) => seen.push(`${request.method} ${request.url}`));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    async close() {
      // CONNECT tunnels are detached from the server, so closeAllConnections would miss them.
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
