import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket from 'ws';
import { RemoteError } from '../common/errors.js';
import { NETUNNEL_VERSION } from '../common/version.js';
import type { NetunnelServer } from '../server/server.js';
import { call, connectClient, startServer } from './support/in-process.js';
import { echoServer, isRefused, listen, waitUntil } from './support/sockets.js';

/** The status a websocket upgrade gets, and the error text of a refusal. */
async function upgrade(server: NetunnelServer, path: string): Promise<{ status: number; error?: string }> {
  const ws = new WebSocket(server.url.replace('http', 'ws') + path);
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once('unexpected-response', (_request, response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, error: (JSON.parse(text) as { error: string }).error }));
    });
    ws.once('error', reject);
  });
}

async function createChannel(server: NetunnelServer): Promise<number> {
  const { body } = await call(server, 'POST', '/channels', { version: '1.0.12' });
  return (body as { channel_id: number }).channel_id;
}

describe('REST API: answers and refusals', () => {
  let server: NetunnelServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.close());

  test('GET /version is the version as plain text', async () => {
    const answer = await call(server, 'GET', '/version');
    assert.equal(answer.status, 200);
    assert.match(answer.type, /^text\/plain/);
    assert.equal(answer.text, NETUNNEL_VERSION);
  });

  test('POST /channels answers an original client with exactly the original body', async () => {
    const answer = await call(server, 'POST', '/channels', { version: '1.0.12' });
    assert.equal(answer.status, 200);
    assert.deepEqual(Object.keys(answer.body as object).sort(), ['channel_id', 'version']);
  });

  test('POST /channels echoes only the features it supports', async () => {
    const answer = await call(server, 'POST', '/channels', { version: '1.0.12', features: ['half-close', 'teleport'] });
    assert.deepEqual((answer.body as { features: string[] }).features, ['half-close']);
  });

  const refusals: Array<[string, string, string, unknown, number, RegExp]> = [
    ['malformed JSON', 'POST', '/channels', '{"version": ', 400, /not valid JSON/],
    ['a missing key', 'POST', '/channels', {}, 400, /missing 'version'/],
    ['a body of the wrong type', 'POST', '/channels', '[1, 2]', 400, /must be object/],
    ['an oversize body', 'POST', '/channels', JSON.stringify({ version: 'x'.repeat(200_000) }), 413, /too large/],
    ['an unknown channel', 'POST', '/channels/999/tunnels', { reverse: false, exit_address: '127.0.0.1', exit_port: 22 }, 404, /channel 999 does not exist/],
    ['a version that is not a string', 'POST', '/channels', { version: 1 }, 400, /'version' must be string/],
    ['features that are not a list', 'POST', '/channels', { version: '1.0.12', features: 'half-close' }, 400, /'features' must be array/],
    ['a force that is not a boolean', 'DELETE', '/channels/1/tunnels/1', { force: 1 }, 400, /'force' must be boolean/],
    // A misspelt force would otherwise quietly mean "not forced".
    ['a tunnel delete with an unknown field', 'DELETE', '/channels/1/tunnels/1', { forse: true }, 400, /unknown field 'forse'/],
    ['a non-numeric channel id', 'POST', '/channels/abc/tunnels', { reverse: false }, 400, /'channel_id' must be integer/],
    // Digits only, as the original's \d+ routes: ajv alone would read these as 1.
    ['a hexadecimal channel id', 'POST', '/channels/0x1/tunnels', { reverse: false }, 400, /'channel_id' must be integer/],
    ['an exponent tunnel id', 'DELETE', '/channels/1/tunnels/1e0', { force: false }, 400, /'tunnel_id' must be integer/],
    ['a decimal peer id', 'GET', '/peers/1.0', undefined, 400, /'peer_id' must be integer/],
    ['a non-numeric tunnel id', 'DELETE', '/channels/1/tunnels/x', { force: false }, 400, /'tunnel_id' must be integer/],
    ['an unknown route', 'GET', '/nowhere', undefined, 404, /no such route: GET \/nowhere/],
  ];
  for (const [what, method, path, body, status, message] of refusals) {
    test(`${what} is a clear ${status}, and the server keeps serving`, async () => {
      const answer = await call(server, method, path, body);
      assert.equal(answer.status, status);
      assert.match(answer.type, /^application\/json/);
      assert.match((answer.body as { error: string }).error, message);
      assert.equal((await call(server, 'GET', '/version')).status, 200);
    });
  }

  test('a known path asked with the wrong method is a 405 naming the methods it takes', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/channels', 'POST'],
      ['DELETE', '/version', 'GET, HEAD'],
      ['PUT', '/channels/1/tunnels/2', 'DELETE'],
      ['POST', '/channels/7/connect', 'GET, HEAD'],
      ['GET', '/authenticate', 'POST'],
    ];
    for (const [method, path, allow] of cases) {
      const response = await fetch(server.url + path, { method });
      const body = (await response.json()) as { error: string; code: string };
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.equal(response.headers.get('allow'), allow);
      assert.equal(body.code, 'METHOD_NOT_ALLOWED');
      assert.match(body.error, new RegExp(`^${method} is not allowed on ${path}; use `));
    }
    // A path no route has stays a 404, whatever the method.
    assert.equal((await call(server, 'DELETE', '/channels/1/nowhere')).status, 404);
  });

  test('a websocket route asked without an upgrade is a 426 saying so, not a 404 for a channel that exists', async () => {
    const client = await connectClient(server);
    try {
      const tunnel = await call(server, 'POST', `/channels/${client.channelId}/tunnels`, { reverse: false, exit_address: '127.0.0.1', exit_port: 22 });
      const { tunnel_id: tunnelId } = tunnel.body as { tunnel_id: number };
      const path = `/channels/${client.channelId}/tunnels/${tunnelId}/connect`;
      const response = await fetch(server.url + path);
      assert.equal(response.status, 426);
      assert.equal(response.headers.get('upgrade'), 'websocket');
      assert.deepEqual(await response.json(), { error: `${path} takes a websocket: ask with "Upgrade: websocket"`, code: 'UPGRADE_REQUIRED' });
      // A channel not yet attached answers the same way; an unknown one is still a 404.
      const fresh = await call(server, 'POST', '/channels', { version: '1.0.12' });
      const { channel_id: freshId } = fresh.body as { channel_id: number };
      assert.equal((await fetch(`${server.url}/channels/${freshId}/connect`)).status, 426);
      assert.equal((await call(server, 'GET', '/channels/999/connect')).status, 404);
    } finally {
      await client.close();
    }
  });

  test('tunnel bodies are checked: missing keys, unknown keys, bad ports', async () => {
    const client = await connectClient(server);
    const path = `/channels/${client.channelId}/tunnels`;
    const cases: Array<[unknown, RegExp]> = [
      [{ exit_address: '127.0.0.1', exit_port: 22 }, /missing 'reverse'/],
      [{ reverse: false, exit_address: '127.0.0.1' }, /missing 'exit_port'/],
      [{ reverse: true, entrance_port: 80 }, /missing 'entrance_address'/],
      [{ reverse: false, exit_address: '127.0.0.1', exit_port: 22, bogus: 1 }, /unknown field 'bogus'/],
      [{ reverse: false, exit_address: '127.0.0.1', exit_port: 70000 }, /'exit_port' must be <= 65535/],
      [{ reverse: 'yes', exit_address: '127.0.0.1', exit_port: 22 }, /'reverse' must be boolean/],
      // Never coerced: the original reads the string "false" as true.
      [{ reverse: 'false', exit_address: '127.0.0.1', exit_port: 22 }, /'reverse' must be boolean/],
      [{ reverse: 0, exit_address: '127.0.0.1', exit_port: 22 }, /'reverse' must be boolean/],
      [{ reverse: false, exit_address: '127.0.0.1', exit_port: '22' }, /'exit_port' must be integer/],
      [{ reverse: false, exit_address: '127.0.0.1', exit_port: [22] }, /'exit_port' must be integer/],
      [{ reverse: false, exit_address: ['127.0.0.1'], exit_port: 22 }, /'exit_address' must be string/],
      [{ reverse: true, entrance_address: '127.0.0.1', entrance_port: false }, /'entrance_port' must be integer/],
    ];
    try {
      for (const [body, message] of cases) {
        const answer = await call(server, 'POST', path, body);
        assert.equal(answer.status, 400, JSON.stringify(body));
        assert.match((answer.body as { error: string }).error, message);
      }
    } finally {
      await client.close();
    }
  });

  test('a channel not yet connected cannot have tunnels (409)', async () => {
    const id = await createChannel(server);
    const answer = await call(server, 'POST', `/channels/${id}/tunnels`, { reverse: false, exit_address: '127.0.0.1', exit_port: 22 });
    assert.equal(answer.status, 409);
    assert.match((answer.body as { error: string }).error, /not connected/);
  });

  test('websocket upgrades for unknown or taken ids are refused with a status before upgrading', async () => {
    const client = await connectClient(server);
    try {
      assert.deepEqual(await upgrade(server, '/channels/999/connect'), { status: 404, error: 'channel 999 does not exist (it may have expired or disconnected)' });
      const taken = await upgrade(server, `/channels/${client.channelId}/connect`);
      assert.equal(taken.status, 409);
      assert.match(taken.error!, /already connected/);
      const unknownTunnel = await upgrade(server, `/channels/${client.channelId}/tunnels/77/connect`);
      assert.equal(unknownTunnel.status, 404);
      assert.match(unknownTunnel.error!, /tunnel 77 does not exist/);
    } finally {
      await client.close();
    }
  });

  test('DELETE of a tunnel answers 200 with an empty JSON body; the tunnel is then unknown', async () => {
    const client = await connectClient(server);
    try {
      const tunnel = await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: 9 });
      const path = `/channels/${client.channelId}/tunnels/${tunnel.id}`;
      const answer = await call(server, 'DELETE', path, { force: true });
      assert.equal(answer.status, 200);
      assert.equal(answer.text, '');
      assert.match(answer.type, /^application\/json/);
      assert.equal((await call(server, 'DELETE', path, { force: true })).status, 404);
      assert.equal((await upgrade(server, `${path}/connect`)).status, 404);
    } finally {
      await client.close();
    }
  });
});

for (const force of [false, true]) {
  test(`a tunnel deleted${force ? ' with force' : ''} carries no new connection, even over a data websocket opened before`, async () => {
    const server = await startServer();
    const echo = await echoServer();
    let exits = 0;
    echo.server.on('connection', () => exits++);
    const base = server.url.replace('http', 'ws');
    const channelId = await createChannel(server);
    const channel = new WebSocket(`${base}/channels/${channelId}/connect`);
    await once(channel, 'open');
    try {
      const created = await call(server, 'POST', `/channels/${channelId}/tunnels`, { exit_address: '127.0.0.1', exit_port: echo.port, reverse: false });
      const path = `/channels/${channelId}/tunnels/${(created.body as { tunnel_id: number }).tunnel_id}`;
      const [carrying, spare] = [new WebSocket(`${base}${path}/connect`), new WebSocket(`${base}${path}/connect`)];
      await Promise.all([once(carrying, 'open'), once(spare, 'open')]);
      carrying.send('pasten');
      carrying.send(Buffer.from('before'));
      assert.equal(String((await once(carrying, 'message'))[0]), 'before');
      const [spareClosed, carryingClosed] = [once(spare, 'close'), once(carrying, 'close')];

      assert.equal((await call(server, 'DELETE', path, { force })).status, 200);
      // What a client that ignores the delete would do with the websocket it holds.
      spare.send('pasten');
      spare.send(Buffer.from('after'));
      assert.equal((await spareClosed)[0], 1000);
      assert.equal(exits, 1, 'only the connection made before the delete reached the exit');
      if (force) {
        assert.equal((await carryingClosed)[0], 1006, 'the live connection is aborted');
      } else {
        carrying.send(Buffer.from('still here'));
        assert.equal(String((await once(carrying, 'message'))[0]), 'still here', 'the live connection finishes');
        carrying.close();
        await carryingClosed;
      }
    } finally {
      channel.close();
      await server.close();
      await echo.close();
    }
  });
}

describe('allowed_tunnel_destinations (the original test suite\'s seven cases)', () => {
  const cases: Array<[string, Record<string, string> | undefined, Array<[string, number, boolean]>]> = [
    ['one port', { '127.0.0.1': '22' }, [['127.0.0.1', 22, true], ['127.0.0.1', 23, false]]],
    ['no ports', { '127.0.0.1': '' }, [['127.0.0.1', 22, false]]],
    ['a list with spaces', { '127.0.0.1': '22, 23' }, [['127.0.0.1', 22, true], ['127.0.0.1', 23, true], ['127.0.0.1', 24, false]]],
    ['any port', { '127.0.0.1': '*' }, [['127.0.0.1', 22, true], ['127.0.0.1', 65535, true]]],
    ['the default', undefined, [['127.0.0.1', 22, true], ['localhost', 22, false], ['10.0.0.1', 22, false]]],
    ['another address only', { '1.2.3.4': '*' }, [['127.0.0.1', 22, false], ['1.2.3.4', 1, true]]],
    ['a public address', { '8.8.8.8': '22,443' }, [['8.8.8.8', 22, true], ['8.8.8.8', 443, true], ['8.8.8.8', 80, false], ['127.0.0.1', 22, false]]],
  ];
  for (const [name, list, checks] of cases) {
    test(name, async () => {
      const server = await startServer(list ? { allowed_tunnel_destinations: list } : {});
      const client = await connectClient(server);
      try {
        for (const [address, port, allowed] of checks) {
          const opened = client.openForwardTunnel({ remoteAddress: address, remotePort: port });
          if (allowed) {
            await client.closeTunnel(await opened, true);
            continue;
          }
          await assert.rejects(opened, (err: RemoteError) => {
            assert.equal(err.statusCode, 403);
            assert.equal(err.remoteCode, 'DESTINATION_NOT_ALLOWED');
            const expected = address in (list ?? { '127.0.0.1': '*' }) ? `Port ${address}:${port}` : `Address ${address}`;
            assert.equal(err.message, `${expected} is not allowed as a tunnel destination`);
            return true;
          });
        }
      } finally {
        await client.close();
        await server.close();
      }
    });
  }
});

describe('reverse tunnel entrances', () => {
  test('only loopback by default; elsewhere 403', async () => {
    const server = await startServer();
    const client = await connectClient(server);
    try {
      const v4 = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9, remoteAddress: '127.0.0.1' });
      assert.ok(v4.entrance.port > 0, 'the bound port is reported');
      const v6 = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9, remoteAddress: '::1' });
      assert.equal(v6.entrance.address, '::1');
      await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9, remoteAddress: '0.0.0.0' }), {
        statusCode: 403,
        message: 'Address 0.0.0.0 is not allowed as a tunnel entrance (see allowed_tunnel_entrances)',
      });
    } finally {
      await client.close();
      await server.close();
    }
  });

  test('a port list allows only those ports, and no "any port"', async () => {
    const taken = await listen(() => {});
    const server = await startServer({ allowed_tunnel_entrances: { '127.0.0.1': `${taken.port}` } });
    const client = await connectClient(server);
    try {
      await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9 }), {
        statusCode: 403,
        message: /^Port 127\.0\.0\.1:any is not allowed/,
      });
      // Allowed, but someone else holds it: a clear conflict, not a 500.
      await assert.rejects(client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9, remotePort: taken.port }), {
        statusCode: 409,
        message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken.port}: address already in use`),
      });
    } finally {
      await client.close();
      await server.close();
      await taken.close();
    }
  });

  test('the bound port is reported only to clients that negotiated entrance-port', async () => {
    const server = await startServer();
    const original = await connectClient(server, { features: [] });
    try {
      const tunnel = await original.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9, remotePort: null });
      assert.equal(tunnel.entrance.port, 0, 'an original client only knows what it asked for');
      const answer = await call(server, 'POST', `/channels/${original.channelId}/tunnels`, {
        reverse: true,
        entrance_address: '127.0.0.1',
        entrance_port: null,
      });
      assert.deepEqual(Object.keys(answer.body as object), ['tunnel_id']);
    } finally {
      await original.close();
      await server.close();
    }
  });
});

describe('limits and expiry', () => {
  test('max_channels and max_tunnels_per_channel give 429 with the key named', async () => {
    const server = await startServer({ max_channels: 2, max_tunnels_per_channel: 1 });
    try {
      await createChannel(server);
      const client = await connectClient(server);
      const third = await call(server, 'POST', '/channels', { version: '1.0.12' });
      assert.equal(third.status, 429);
      assert.match((third.body as { error: string }).error, /max_channels/);
      await client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: 9 });
      await assert.rejects(client.openForwardTunnel({ remoteAddress: '127.0.0.1', remotePort: 9 }), {
        statusCode: 429,
        message: /max_tunnels_per_channel/,
      });
      await client.close();
    } finally {
      await server.close();
    }
  });

  test('a channel never connected expires and frees its place', async () => {
    const server = await startServer({ channel_connect_timeout: 0.2, max_channels: 1 });
    try {
      const id = await createChannel(server);
      await waitUntil(async () => (await call(server, 'POST', '/channels', { version: '1.0.12' })).status === 200, 5000, 'a free channel slot');
      assert.equal((await upgrade(server, `/channels/${id}/connect`)).status, 404);
    } finally {
      await server.close();
    }
  });

  test('a client that disconnects releases its channel and reverse entrances', async () => {
    const server = await startServer();
    const client = await connectClient(server);
    const tunnel = await client.openReverseTunnel({ localAddress: '127.0.0.1', localPort: 9 });
    assert.equal(await isRefused(tunnel.entrance.port), false);
    await client.close();
    await waitUntil(() => server.channels.size === 0, 5000, 'the channel to be released');
    await waitUntil(() => isRefused(tunnel.entrance.port), 5000, 'the entrance to close');
    await server.close();
  });
});
