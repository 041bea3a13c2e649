import type { Socket } from 'node:net';
import type { Connection } from 'ssh2';

/** How long a client may take to close its side after our disconnect message. */
const HANG_UP_GRACE_MS = 2000;

/**
 * Ends an SSH connection for certain. ssh2's `end()` sends a disconnect message, half-closes
 * the socket and waits for the client's FIN, but a client that stopped answering (frozen, or
 * its network gone) never sends one: the connection, and every port it registered, would stay
 * until the kernel gave up on the socket, if ever. So the socket is destroyed after a grace.
 */
export function hangUp(client: Connection): void {
  client.end();
  const socket = socketOf(client);
  if (!socket || socket.destroyed) return;
  const timer = setTimeout(() => socket.destroy(), HANG_UP_GRACE_MS).unref();
  socket.once('close', () => clearTimeout(timer));
}

/** The TCP socket under an ssh2 connection (ssh2 keeps it private). */
export function socketOf(client: Connection): Socket | undefined {
  return (client as unknown as { _sock?: Socket })._sock;
}
