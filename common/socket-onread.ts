import net from 'node:net';
import tls from 'node:tls';

/** The shape of net.connect's `onread` option: where the next read lands, and who takes it. */
export interface OnRead {
  buffer: () => Buffer;
  /** false stops reading until the socket is resumed. */
  callback: (bytes: number, buffer: Uint8Array) => boolean;
}

/**
 * Gives an existing socket (an accepted one, or the server's side of a websocket upgrade)
 * net.connect's `onread`. Node offers the option only to sockets it connects, but every
 * net.Socket has the same slots, under unexported symbols, and its handle the same call.
 * Where they are missing (another Node, a TLS socket, a slot already set) the socket keeps
 * Node's own reads: false. Set it before the reads it should take: one already made has
 * gone Node's way.
 */
export function setOnread(socket: net.Socket, onread: OnRead): boolean {
  if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return false;
  const slots = onreadSlots(socket);
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle;
  if (!slots || typeof handle?.useUserBuffer !== 'function') return false;
  const first = onread.buffer();
  const target = socket as unknown as Record<symbol, unknown>;
  target[slots.buffer] = first;
  target[slots.generator] = onread.buffer;
  target[slots.callback] = onread.callback;
  handle.useUserBuffer(first);
  return true;
}

/** The symbols net.Socket keeps its `onread` option under; each is null until one is set. */
function onreadSlots(socket: net.Socket): { buffer: symbol; generator: symbol; callback: symbol } | undefined {
  const symbols = Object.getOwnPropertySymbols(socket);
  const named = (description: string) => symbols.find((symbol) => symbol.description === description);
  const buffer = named('kBuffer');
  const generator = named('kBufferGen');
  const callback = named('kBufferCb');
  if (!buffer || !generator || !callback) return undefined;
  const slots = socket as unknown as Record<symbol, unknown>;
  if (slots[buffer] !== null || slots[generator] !== null || slots[callback] !== null) return undefined;
  return { buffer, generator, callback };
}
