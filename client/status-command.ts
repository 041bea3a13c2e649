import type { StatusResponse } from '../common/protocol.js';
import { NetunnelClient } from './client.js';
import type { NetunnelClientOptions } from './client.js';

/** `netunnel-client --status`: the server's status, as text for a person or as its JSON. */
export async function statusReport(options: NetunnelClientOptions, json: boolean): Promise<string> {
  const client = new NetunnelClient(options);
  try {
    const status = await client.getStatus();
    return json ? `${JSON.stringify(status, null, 2)}\n` : describeStatus(status);
  } finally {
    await client.close();
  }
}

export function describeStatus(status: StatusResponse): string {
  const lines = [`netunnel ${status.version}, up ${status.uptime_seconds} s, ${status.channels.length} channels, ${status.ssh_sessions} SSH sessions`];
  for (const channel of status.channels) {
    lines.push(`channel ${channel.id} from ${channel.client}${channel.features.length ? ` (${channel.features.join(', ')})` : ''}`);
    for (const tunnel of channel.tunnels) lines.push(`  tunnel ${tunnel.id} ${tunnel.kind.padEnd(13)} ${tunnel.target}`);
  }
  lines.push('connections (open / total, bytes up / down):');
  for (const [kind, t] of Object.entries(status.connections)) {
    lines.push(`  ${kind.padEnd(8)} ${t.live} / ${t.total}, ${t.upstream_bytes} / ${t.downstream_bytes}`);
  }
  for (const entry of status.registry) lines.push(`registry ${entry.name}:${entry.port} (${entry.owner}, since ${entry.since})`);
  for (const peer of status.peers) {
    lines.push(`peer ${peer.id} ${peer.name} ${peer.target_netunnel_url}`);
    for (const t of peer.static_tunnels) {
      const error = t.last_error ? ` (${t.last_error})` : '';
      lines.push(`  static tunnel ${t.id} ${t.tunnel_local_address}:${t.tunnel_local_port} -> ${t.tunnel_remote_address}:${t.tunnel_remote_port} ${t.state}${error}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
