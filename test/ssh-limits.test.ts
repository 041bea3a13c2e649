import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startSwitchboard } from './support/openssh.js';
import type { SshProcess, Switchboard } from './support/openssh.js';
import { echoServer, listen, waitUntil } from './support/sockets.js';
import type { TestServer } from './support/sockets.js';

describe('SSH front door: limits per key (real OpenSSH)', () => {
  let board: Switchboard;
  let echo: TestServer;
  let holder: TestServer;
  let held = 0;
  let listenKey: string;
  let initKey: string;
  let gw: SshProcess;

  before(async () => {
    board = await startSwitchboard(
      { listen_key: 'ed25519', init_key: 'ed25519' },
      (keys) => [`access="listen" ${keys.listen_key!.pub}`, `access="initiate" ${keys.init_key!.pub}`],
      { maxForwardsPerKey: 2, maxCircuitsPerKey: 1 },
    );
    listenKey = board.keys.listen_key!.path;
    initKey = board.keys.init_key!.path;
    echo = await echoServer();
    // Never answers: a circuit to it stays open until its initiator leaves (EOF, then it closes).
    holder = await listen((socket) => {
      held++;
      socket.once('end', () => socket.end());
      socket.once('close', () => held--);
    });
    gw = board.ssh(listenKey, 'gw', ['-N', '-R', `22:localhost:${holder.port}`, '-R', `80:localhost:${echo.port}`]);
    await waitUntil(() => (board.resolves('gw', 22) && board.resolves('gw', 80)) || gw.child.exitCode !== null, 15_000, 'gw to register');
  });

  after(async () => {
    await board?.close();
    await echo?.close();
    await holder?.close();
  });

  test('a key at max_forwards_per_key gets no more forwards, even on another connection', async () => {
    const more = board.ssh(listenKey, 'gw-too', ['-N', '-R', `81:localhost:${echo.port}`]);
    assert.equal(await more.exited, 255);
    assert.match(more.stderr(), /remote port forwarding failed for listen port 81/);
    assert.match(board.logs(), /tcpip-forward refused for gw-too .*: this key already has 2 forwarded ports, the most allowed \(ssh max_forwards_per_key\)/);
    assert.equal(gw.child.exitCode, null, 'the first connection keeps its forwards');
  });

  test('a key at max_circuits_per_key gets a resource-shortage refusal until a circuit closes', async () => {
    const first = board.ssh(initKey, 'initiator', ['-W', 'gw:22']);
    await waitUntil(() => held === 1 || first.child.exitCode !== null, 15_000, 'the first circuit to open');
    const second = board.ssh(initKey, 'initiator', ['-W', 'gw:80'], Buffer.from('x'));
    assert.equal(await second.exited, 255);
    assert.match(second.stderr(), /open failed: resource shortage: this key already has 1 open circuits, the most allowed \(ssh max_circuits_per_key\)/);
    await first.kill();
    await waitUntil(() => held === 0, 15_000, 'the first circuit to close');
    // The slot comes back when the circuit's relay has finished, just after its sockets close.
    let reply = '';
    for (let attempt = 0; attempt < 5 && reply !== 'again'; attempt++) {
      const third = board.ssh(initKey, 'initiator', ['-W', 'gw:80'], Buffer.from('again'));
      await third.exited;
      reply = third.stdout().toString();
    }
    assert.equal(reply, 'again');
  });
});
