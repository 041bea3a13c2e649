import type { Socket } from 'node:net';

/**
 * Makes the writes a socket gets within one tick leave as one `writev`: ssh2 writes every
 * packet it builds with its own `socket.write`, so one read of a peer's 64 KiB turns into
 * two or more syscalls (and as many wake-ups of the reader) where one does.
 */
export function coalesceWrites(socket: Socket): void {
  const write = socket.write;
  socket.write = function (this: Socket, ...args: Parameters<Socket['write']>): boolean {
    if (this.writableCorked === 0) {
      this.cork();
      process.nextTick(uncork, this);
    }
    return write.apply(this, args);
  } as Socket['write'];
}

function uncork(socket: Socket): void {
  socket.uncork();
}
