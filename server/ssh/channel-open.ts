import type { Duplex } from 'node:stream';
import type { Connection, ServerChannel } from 'ssh2';
import { NetunnelError, errorMessage } from '../../common/errors.js';
import { channelStream } from './channel-stream.js';

// Channel open failure reason codes (RFC 4254 §5.1).
export const ADMINISTRATIVELY_PROHIBITED = 1;
export const CONNECT_FAILED = 2;
export const RESOURCE_SHORTAGE = 4;

/**
 * Rejects a channel open with a reason code and text. ssh2's `reject()` always sends
 * "connect failed" with an empty text, so the private protocol object's `channelOpenFail` is
 * swapped for the duration of the (synchronous) call; without it, the plain reject is used.
 */
export function rejectWithReason(client: Connection, reject: () => void, reason: number, text: string): void {
  const proto = (client as unknown as { _protocol?: { channelOpenFail?: (...args: unknown[]) => void } })._protocol;
  const original = proto?.channelOpenFail;
  if (!proto || typeof original !== 'function') {
    reject();
    return;
  }
  proto.channelOpenFail = (recipient: unknown) => original.call(proto, recipient, reason, text);
  try {
    reject();
  } finally {
    proto.channelOpenFail = original;
  }
}

/** Where a forwarded-tcpip channel goes: the listening client, its bind address and port. */
export interface ForwardedTarget {
  client: Connection;
  bindAddr: string;
  port: number;
  /** True once the client's connection closed. */
  gone: () => boolean;
}

/** Opens a forwarded-tcpip channel to a listening client, echoing its bind address byte for byte. */
export function openForwarded(target: ForwardedTarget, originator: { host: string; port: number }, timeoutMs: number): Promise<Duplex> {
  const { client, bindAddr, port } = target;
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new NetunnelError('TIMEOUT', `the listener did not accept the connection within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    try {
      client.forwardOut(bindAddr, port, originator.host, originator.port, (err, channel) => {
        clearTimeout(timer);
        if (done) {
          if (!err) channel.close();
          return;
        }
        done = true;
        // ssh2 fails the opens still pending when a connection closes ("No response from
        // server"): the listener did not refuse, it left.
        if (err && target.gone()) {
          reject(new NetunnelError('CHANNEL_CLOSED', "the listener's SSH connection closed"));
          return;
        }
        if (err) {
          reject(new NetunnelError('REMOTE_ERROR', `the listener refused: ${err.message.replace(/^\(SSH\) Channel open failure: /, '') || 'no reason given'}`));
          return;
        }
        resolve(channelStream(channel as unknown as ServerChannel));
      });
    } catch (err) {
      clearTimeout(timer);
      done = true;
      reject(new NetunnelError('CHANNEL_CLOSED', `the listener is gone: ${errorMessage(err)}`));
    }
  });
}
