import type { Session } from 'ssh2';
import type { TunnelRegistry } from '../tunnel-registry.js';
import type { AuthorizedKey } from './authorized-keys.js';

const HELP = `netunnel SSH front door. Commands:
  list          the registered listeners (names, aliases, ports, addresses, since when)
  list --json   the same as JSON
  help          this text
`;

/**
 * A session that is not proxied upstream: the front door's built-in commands (`list`, `help`),
 * and a shell that only keeps a listener's forwards open.
 */
export function handleSession(session: Session, key: () => AuthorizedKey | undefined, registry: TunnelRegistry): void {
  session.on('pty', (accept) => accept?.());
  session.on('env', (accept) => accept?.());
  session.on('window-change', (accept) => accept?.());
  session.on('subsystem', (_accept, reject) => reject?.());
  session.on('exec', (accept, reject, info) => {
    if (!accept) return reject?.();
    const channel = accept();
    channel.on('error', () => {});
    const words = info.command.trim().split(/\s+/);
    const finish = (code: number, out: string, err = '') => {
      if (out) channel.write(out);
      if (err) channel.stderr.write(err);
      channel.exit(code);
      channel.end();
    };
    if (words[0] === 'help' && words.length === 1) return finish(0, HELP);
    if (words[0] === 'list' && (words.length === 1 || (words.length === 2 && words[1] === '--json'))) {
      if (!key()?.access.has('initiate')) return finish(1, '', 'Permission denied: list needs access="initiate"\n');
      const rows = registry.list();
      if (words[1] === '--json') {
        return finish(0, `${JSON.stringify(rows.map((r) => ({ name: r.name, aliases: r.aliases, port: r.port, kind: r.owner.kind, address: r.owner.address, since: r.since.toISOString() })))}\n`);
      }
      const text = rows.length === 0 ? '  None\n' : rows.map((r) => `  ${r.name}:${r.port} aliases=${r.aliases.join(',')} ${r.owner.kind} ${r.owner.address ?? ''} since ${r.since.toISOString()}\n`).join('');
      return finish(0, `Listeners:\n${text}`);
    }
    return finish(1, '', `Unknown command "${info.command}". ${HELP}`);
  });
  session.on('shell', (accept) => {
    if (!accept) return;
    const channel = accept();
    channel.on('error', () => {});
    // A listener that forgot -N keeps its forwards while this session is open.
    channel.write(`netunnel SSH front door: no shell here; this session keeps your forwards open. Ctrl-C or Ctrl-D ends it.\r\n`);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      channel.exit(0);
      channel.end();
    };
    // With a pty, Ctrl-C and Ctrl-D arrive as bytes; without one, Ctrl-D is the end of input.
    channel.on('data', (data: Buffer) => {
      if (data.includes(3) || data.includes(4)) end();
    });
    channel.on('end', end);
  });
}
