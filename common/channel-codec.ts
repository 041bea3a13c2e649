import { BSON } from 'bson';
import { NetunnelError } from './errors.js';
import type { ChannelDoc, ChannelMessageDoc, ChannelResponseDoc } from './protocol.js';

/**
 * BSON encoding of channel frames, byte-compatible with the original (netunnel-wire.md §2.3).
 * JS integers within int32 range serialise as BSON int32, which is what the original sends.
 */
export function encodeMessage(id: number, type: string, data: Record<string, unknown>): Buffer {
  const doc: ChannelMessageDoc = {
    _type: 'message',
    _identifier: id,
    message_type: { __Messages__: type },
    data,
  };
  return Buffer.from(BSON.serialize(doc));
}

export function encodeResponse(id: number, error?: string): Buffer {
  const doc: ChannelResponseDoc = { _type: 'response', _identifier: id, data: {} };
  if (error !== undefined) doc.error = error;
  return Buffer.from(BSON.serialize(doc));
}

export function decodeFrame(frame: Buffer): ChannelDoc {
  let doc: Record<string, unknown>;
  try {
    doc = BSON.deserialize(frame, { promoteLongs: true, promoteValues: true });
  } catch (err) {
    throw new NetunnelError('PROTOCOL', 'channel frame is not a BSON document', { cause: err });
  }
  if (typeof doc._identifier !== 'number') {
    throw new NetunnelError('PROTOCOL', 'channel frame has no numeric _identifier');
  }
  if (doc._type === 'response') {
    return {
      _type: 'response',
      _identifier: doc._identifier,
      data: isObject(doc.data) ? doc.data : {},
      ...(typeof doc.error === 'string' ? { error: doc.error } : {}),
    };
  }
  if (doc._type === 'message' && isObject(doc.message_type) && typeof doc.message_type.__Messages__ === 'string') {
    return {
      _type: 'message',
      _identifier: doc._identifier,
      message_type: { __Messages__: doc.message_type.__Messages__ },
      data: isObject(doc.data) ? doc.data : {},
    };
  }
  throw new NetunnelError('PROTOCOL', 'channel frame is neither a message nor a response');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
