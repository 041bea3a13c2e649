import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { startClientProcess, startServerProcess } from './support/processes.js';
import { connect, echoServer, freePort, randomBytes, sha256 } from './support/sockets.js';

/**
 * Interoperation with the original Python NETunnel 1.0.12, run where it is installed
 * (`pip install netunnel==1.0.12`). Forward tunnels only: the original's reverse tunnels are
 * broken on Python >= 3.10 by its own bug (netunnel-wire.md §9).
 */
const PYTHON = process.env.NETUNNEL_ORIGINAL_PYTHON ?? 'python3';
const available = spawnSync(PYTHON, ['-c', 'import netunnel.client, netunnel.server'], { stdio: 'ignore' }).status === 0;
const skip = available ? false : `the original NETunnel is not installed for ${PYTHON}`;

/** Sends `payload` and waits for all of it to come back, without EOF (the original has no half-close). */
async function echoed(port: number, payload: Buffer): Promise<Buffer> {
  const socket = await connect(port);
  const chunks: Buffer[] = [];
  let length = 0;
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${length} of ${payload.length} bytes came back`)), 30_000);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= payload.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  socket.write(payload);
  await done;
  socket.destroy();
  return Buffer.concat(chunks);
}

function startPython(args: string[]) {
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const waitFor = async (pattern: RegExp) => {
    const deadline = Date.now() + 20_000;
    while (!pattern.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return output.match(pattern)!;
  };
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  };
  return { waitFor, stop };
}

describe('the original NETunnel 1.0.12', { skip }, () => {
  test('our client through an original server', async () => {
    const echo = await echoServer();
    const port = await freePort();
    const original = startPython(['-m', 'netunnel.server', '-p', String(port)]);
    try {
      await original.waitFor(/Starting server on/);
      const client = await startClientProcess(['-s', `http://127.0.0.1:${port}`, '--remote-port', String(echo.port)]);
      try {
        const payload = randomBytes(4 * 1024 * 1024);
        assert.equal(sha256(await echoed(client.entrancePort, payload)), sha256(payload));
      } finally {
        await client.stop();
      }
    } finally {
      await original.stop();
      await echo.close();
    }
  });

  test('an original client through our server', async () => {
    const echo = await echoServer();
    const server = await startServerProcess();
    const original = startPython(['-m', 'netunnel.client', '--server', server.url, '--remote-port', String(echo.port)]);
    try {
      const [, port] = await original.waitFor(/Tunnel entrance socket: [\d.]+:(\d+)/);
      const payload = randomBytes(1024 * 1024);
      assert.equal(sha256(await echoed(Number(port), payload)), sha256(payload));
    } finally {
      await original.stop();
      await server.stop();
      await echo.close();
    }
  });
});
