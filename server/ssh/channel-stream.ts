import { Duplex } from 'node:stream';
import type { Channel } from 'ssh2';

/**
 * Wraps an ssh2 server-side channel so that common/splice.ts relays it correctly.
 *
 * In server mode ssh2's `channel.end()` sends EOF *and* CLOSE, so ending the channel directly
 * would drop the reply of a half-closing protocol, and `channel.eof()` called while writes are
 * still queued (window exhausted) loses those bytes (ssh-front-door.md §3.7). This wrapper:
 * - ends its writable side by a zero-length write followed by `eof()` in its callback (Node calls
 *   it only after every earlier write was handed to the SSH layer): EOF after the data, no CLOSE;
 * - ends its readable side when the channel's EOF arrives;
 * - closes the channel (CLOSE) once both directions are done or it is destroyed;
 * - is destroyed when the peer sends CLOSE or the connection goes away (after the data already
 *   received has been read).
 */
export function channelStream(channel: Channel): Duplex {
  let channelClosed = false;
  const closeChannel = (): void => {
    if (channelClosed) return;
    channelClosed = true;
    channel.resume();
    channel.close();
  };

  const stream = new Duplex({
    allowHalfOpen: true,
    read() {
      channel.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (channelClosed) {
        callback(new Error('SSH channel closed'));
        return;
      }
      if (channel.write(chunk)) callback();
      else waitDrain(callback);
    },
    final(callback) {
      if (channelClosed) {
        callback();
        return;
      }
      channel.write(Buffer.alloc(0), () => {
        channel.eof();
        callback();
      });
    },
    destroy(error, callback) {
      closeChannel();
      callback(error);
    },
  });

  let drainWaiter: ((error?: Error | null) => void) | undefined;
  const waitDrain = (callback: (error?: Error | null) => void): void => {
    drainWaiter = callback;
  };
  channel.on('drain', () => {
    const waiter = drainWaiter;
    drainWaiter = undefined;
    waiter?.();
  });

  channel.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) channel.pause();
  });
  channel.once('end', () => stream.push(null));
  channel.on('error', (err: Error) => stream.destroy(err));
  channel.once('close', () => {
    channelClosed = true;
    const waiter = drainWaiter;
    drainWaiter = undefined;
    waiter?.(new Error('SSH channel closed'));
    // Let what was already received be read before going away.
    if (stream.readableEnded || stream.destroyed) stream.destroy();
    else {
      stream.once('end', () => stream.destroy());
      stream.push(null);
    }
  });
  return stream;
}
