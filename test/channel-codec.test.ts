import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFrame, encodeMessage, encodeResponse } from '../common/channel-codec.js';
import { MessageType } from '../common/protocol.js';

// Golden bytes produced by the original NETunnel 1.0.12 (netunnel-wire.md §2.3).
const GOLDEN = {
  newConnection:
    '8f000000025f7479706500080000006d65737361676500105f6964656e7469666965720001000000036d6573736167655f74797065003e000000025f5f4d657373616765735f5f002700000054554e4e454c5f5345525645525f544f5f434c49454e545f4e45575f434f4e4e454354494f4e0000036461746100140000001074756e6e656c5f696400010000000000',
  deleteTunnel:
    '7e000000025f7479706500080000006d65737361676500105f6964656e7469666965720002000000036d6573736167655f747970650025000000025f5f4d657373616765735f5f000e00000044454c4554455f54554e4e454c00000364617461001c0000001074756e6e656c5f6964000100000008666f72636500000000',
  ok: '35000000025f747970650009000000726573706f6e736500105f6964656e7469666965720001000000036461746100050000000000',
  error:
    '6f000000025f747970650009000000726573706f6e736500105f6964656e74696669657200010000000364617461000500000000026572726f72002f00000074756e6e656c5f696420603760206973206e6f742072656769737465726564206f6e207468697320636c69656e740000',
};

test('NEW_CONNECTION encodes to the original bytes', () => {
  const frame = encodeMessage(1, MessageType.NEW_CONNECTION, { tunnel_id: 1 });
  assert.equal(frame.toString('hex'), GOLDEN.newConnection);
  assert.equal(frame.length, 143);
});

test('DELETE_TUNNEL encodes to the original bytes', () => {
  const frame = encodeMessage(2, MessageType.DELETE_TUNNEL, { tunnel_id: 1, force: false });
  assert.equal(frame.toString('hex'), GOLDEN.deleteTunnel);
});

test('responses encode to the original bytes', () => {
  assert.equal(encodeResponse(1).toString('hex'), GOLDEN.ok);
  assert.equal(
    encodeResponse(1, 'tunnel_id `7` is not registered on this client').toString('hex'),
    GOLDEN.error,
  );
});

test('golden frames decode to their documents', () => {
  assert.deepEqual(decodeFrame(Buffer.from(GOLDEN.newConnection, 'hex')), {
    _type: 'message',
    _identifier: 1,
    message_type: { __Messages__: MessageType.NEW_CONNECTION },
    data: { tunnel_id: 1 },
  });
  assert.deepEqual(decodeFrame(Buffer.from(GOLDEN.deleteTunnel, 'hex')), {
    _type: 'message',
    _identifier: 2,
    message_type: { __Messages__: MessageType.DELETE_TUNNEL },
    data: { tunnel_id: 1, force: false },
  });
  assert.deepEqual(decodeFrame(Buffer.from(GOLDEN.error, 'hex')), {
    _type: 'response',
    _identifier: 1,
    data: {},
    error: 'tunnel_id `7` is not registered on this client',
  });
});

test('garbage and foreign documents are protocol errors', () => {
  assert.throws(() => decodeFrame(Buffer.from('not bson')), { code: 'PROTOCOL' });
  const foreign = encodeResponse(1).toString('hex').replace('726573706f6e7365', '6e6f7468696e6721');
  assert.throws(() => decodeFrame(Buffer.from(foreign, 'hex')), { code: 'PROTOCOL' });
});
