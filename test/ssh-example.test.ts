import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAuthorizedKeys } from '../server/ssh/authorized-keys.js';
import { makeKey, runSsh, startExecServer } from './support/openssh.js';
import { startServerProcess } from './support/processes.js';
import { freePort } from './support/sockets.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/ssh-front-door', import.meta.url));

/** Rewrites `file` in `dir`, replacing each [from, to] once (and failing if `from` is not there). */
async function edit(dir: string, file: string, replacements: [string, string][]): Promise<void> {
  let text = await readFile(join(dir, file), 'utf8');
  for (const [from, to] of replacements) {
    assert.ok(text.includes(from), `${file} mentions ${from}`);
    text = text.replaceAll(from, to);
  }
  await writeFile(join(dir, file), text);
}

/**
 * examples/ssh-front-door as its README runs it: only the ports differ (ephemeral here),
 * and the gateway's sshd is a stand-in.
 */
test('examples/ssh-front-door works as its README says', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'netunnel-door-example-'));
  const web = createServer((_request, response) => response.end('hello from gw1\n'));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', () => resolve()));
  const sshd = await startExecServer();
  const cleanups: Array<() => Promise<unknown>> = [async () => web.close(), () => sshd.close(), () => rm(dir, { recursive: true, force: true })];
  try {
    await cp(EXAMPLE, dir, { recursive: true });
    const gw1 = makeKey(dir, 'gw1_key');
    const ops = makeKey(dir, 'ops_key');
    const bare = (pub: string) => pub.split(' ').slice(0, 2).join(' ');
    await edit(dir, 'authorized_keys', [['GW1_PUBLIC_KEY', bare(gw1.pub)], ['OPS_PUBLIC_KEY', bare(ops.pub)]]);
    const parsed = parseAuthorizedKeys(await readFile(join(dir, 'authorized_keys'), 'utf8'));
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.keys.length, 2);

    const port = await freePort();
    await edit(dir, 'ssh_config', [
      ['Port 1878', `Port ${port}`],
      ['localhost:8000', `localhost:${(web.address() as AddressInfo).port}`],
      ['localhost:22', `localhost:${sshd.port}`],
    ]);
    const server = await startServerProcess(['--ssh-port', String(port), '--ssh-authorized-keys', 'authorized_keys'], { cwd: dir });
    cleanups.unshift(() => server.stop());
    await server.waitFor(/SSH front door listening/);

    const offer = runSsh(dir, 'ssh_config', ['-N', 'gw1-offer']);
    cleanups.unshift(() => offer.kill());
    await server.waitFor(/SSH listener gw1\/office .* registered port 80/);
    await server.waitFor(/SSH listener gw1\/office .* registered port 22/);

    const list = runSsh(dir, 'ssh_config', ['switchboard', 'list']);
    assert.equal(await list.exited, 0, list.stderr());
    assert.match(list.stdout().toString(), /gw1:80 aliases=office/);

    const w = runSsh(dir, 'ssh_config', ['-W', 'gw1:80', 'switchboard'], Buffer.from('GET / HTTP/1.0\r\n\r\n'));
    assert.equal(await w.exited, 0, w.stderr());
    assert.match(w.stdout().toString(), /hello from gw1/);

    const jump = runSsh(dir, 'ssh_config', ['gw1', 'uptime']);
    assert.equal(await jump.exited, 0, jump.stderr());
    assert.equal(jump.stdout().toString(), 'ran: uptime\n');
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
});
