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
  const handle = readHandle(socket);
  if (!slots || !handle) return false;
  const target = socket as unknown as Record<symbol, unknown>;
  if (target[slots.buffer] !== null || target[slots.generator] !== null || target[slots.callback] !== null) return false;
  const first = onread.buffer();
  target[slots.buffer] = first;
  target[slots.generator] = onread.buffer;
  target[slots.callback] = onread.callback;
  handle.useUserBuffer(first);
  return true;
}

/**
 * Points the next read of a socket that has `onread` (its own or setOnread's) at `buffer`,
 * between reads, where Node would only take a new buffer from the generator after a read.
 * Each call leaves about 50 bytes with the handle until it closes (Node stacks a read
 * listener per call): for an occasional change, not one per read. False if the socket has
 * no `onread` or no handle any more.
 */
export function replaceReadBuffer(socket: net.Socket, buffer: Buffer): boolean {
  const slots = onreadSlots(socket);
  const handle = readHandle(socket);
  const target = socket as unknown as Record<symbol, unknown>;
  if (!slots || !handle || !(target[slots.buffer] instanceof Uint8Array)) return false;
  target[slots.buffer] = buffer;
  handle.useUserBuffer(buffer);
  return true;
}

/** The buffer a socket with `onread` reads into next, as Node holds it; undefined without `onread`. */
export function currentReadBuffer(socket: net.Socket): Uint8Array | undefined {
  const slots = onreadSlots(socket);
  const buffer = slots && (socket as unknown as Record<symbol, unknown>)[slots.buffer];
  return buffer instanceof Uint8Array ? buffer : undefined;
}

function readHandle(socket: net.Socket): { useUserBuffer: (buffer: Buffer) => void } | undefined {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (buffer: Buffer) => void } })._handle;
  return typeof handle?.useUserBuffer === 'function' ? (handle as { useUserBuffer: (buffer: Buffer) => void }) : undefined;
}

/** The symbols net.Socket keeps its `onread` option under; each is null until one is set. */
function onreadSlots(socket: net.Socket): { buffer: symbol; generator: symbol; callback: symbol } | undefined {
  const symbols = Object.getOwnPropertySymbols(socket);
  const named = (description: string) => symbols.find((symbol) => symbol.description === description);
  const buffer = named('kBuffer');
  const generator = named('kBufferGen');
  const callback = named('kBufferCb');
  if (!buffer || !generator || !callback) return undefined;
  return { buffer, generator, callback };
}
