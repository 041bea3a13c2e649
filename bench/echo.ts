import type net from 'node:net';
import { within } from './within.js';

export const ECHO_TIMEOUT_MS = 10_000;

/** Sends `payload` and resolves once as many bytes came back (the far end echoes). */
export function echoed(socket: net.Socket, payload: Buffer, timeoutMs = ECHO_TIMEOUT_MS): Promise<void> {
  return within(
    new Promise<void>((resolve, reject) => {
      let got = 0;
      const onData = (chunk: Buffer) => {
        got += chunk.length;
        if (got < payload.length) return;
        done();
        resolve();
      };
      const onClose = () => {
        done();
        reject(new Error(`connection closed after ${got} of ${payload.length} echoed bytes`));
      };
      const done = () => {
        socket.off('data', onData);
        socket.off('close', onClose);
      };
      socket.on('data', onData);
      socket.once('close', onClose);
      socket.write(payload);
    }),
    timeoutMs,
    'an echo',
  );
}
