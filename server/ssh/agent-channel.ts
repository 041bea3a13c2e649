import type { Connection, ServerChannel } from 'ssh2';
import { NetunnelError } from '../../common/errors.js';

// ssh2's own channel window and packet size (lib/Channel.js): its confirmation handler assumes them.
const MAX_WINDOW = 2 * 1024 * 1024;
const PACKET_SIZE = 32 * 1024;

interface Internals {
  _chanMgr?: { add(handler: unknown): number };
  _protocol?: { openssh_authAgent?: (id: number, window: number, packetSize: number) => void };
}

/**
 * Opens an `auth-agent@openssh.com` channel to a client that asked for agent forwarding,
 * i.e. a connection to its ssh-agent. ssh2's server has no public call for it (only for
 * forwarded-tcpip and x11), so this does what its internal openChannel() does, with the
 * protocol object's openssh_authAgent(); without those internals it refuses.
 */
export function openAgentChannel(client: Connection): Promise<ServerChannel> {
  const { _chanMgr: channels, _protocol: protocol } = client as unknown as Internals;
  if (!channels || typeof protocol?.openssh_authAgent !== 'function') {
    return Promise.reject(new NetunnelError('INTERNAL', 'this ssh2 version cannot open agent channels'));
  }
  return new Promise((resolve, reject) => {
    const handler = (err: Error | undefined, channel: ServerChannel) => (err ? reject(err) : resolve(channel));
    handler.type = 'auth-agent@openssh.com';
    const id = channels.add(handler);
    if (id === -1) {
      reject(new NetunnelError('LIMIT_REACHED', 'no free SSH channel for the agent'));
      return;
    }
    protocol.openssh_authAgent!(id, MAX_WINDOW, PACKET_SIZE);
  });
}
