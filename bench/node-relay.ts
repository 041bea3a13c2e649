/**
 * Child process: a plain Node TCP relay, the reference for what any relay written on Node's
 * streams costs here. `node node-relay.js TARGET_PORT` listens on an ephemeral loopback port,
 * prints `relay listening on PORT`, and pipes each connection to 127.0.0.1:TARGET_PORT both
 * ways, half-close included. Runs until killed.
 */
import net from 'node:net';
import { listen } from '../test/support/sockets.js';

const target = Number(process.argv[2]);
if (!Number.isInteger(target) || target <= 0) {
  console.error('usage: node-relay.js TARGET_PORT');
  process.exit(2);
}

const server = await listen((inbound) => {
  inbound.pause();
  const outbound = net.connect({ host: '127.0.0.1', port: target, allowHalfOpen: true, noDelay: true }, () => {
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  inbound.setNoDelay(true);
  const drop = () => {
    inbound.destroy();
    outbound.destroy();
  };
  // pipe() carries each EOF on; an error on either side cuts both.
  inbound.once('error', drop);
  outbound.once('error', drop);
});
console.log(`relay listening on ${server.port}`);
