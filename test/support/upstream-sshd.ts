import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Connection, ServerChannel, Session, SFTPWrapper } from 'ssh2';
import { generateEd25519Key } from '../../server/ssh/ed25519-key.js';
import { openAgentChannel } from '../../server/ssh/agent-channel.js';

const { STATUS_CODE } = ssh2.utils.sftp;

export interface UpstreamSshd {
  port: number;
  /** The host key as a known_hosts line's key part (`type base64`). */
  hostKey: string;
  /** Files written over SFTP, by path. */
  files: Map<string, Buffer>;
  close(): Promise<void>;
}

/**
 * A stand-in for a gateway's sshd, on loopback: lets `user` in with the key `publicKey`
 * (an authorized_keys line) only, and answers:
 * - exec `cat`: echoes stdin to its EOF; `status N`: exit status N; `env NAME`: the variable's
 *   value; `stderr N`: N bytes on stderr; anything else `ran: <command>`;
 * - shell: `pty TERM COLSxROWS`, then `you said: LINE` per line, `window COLSxROWS` on a
 *   window change, and exit status 7 on `exit`;
 * - sftp: an in-memory file store (open, read, write, stat, close).
 */
export async function startUpstreamSshd(user: string, publicKey: string): Promise<UpstreamSshd> {
  const pair = generateEd25519Key();
  const allowed = ssh2.utils.parseKey(publicKey);
  if (allowed instanceof Error || Array.isArray(allowed)) throw new Error('bad test key');
  const files = new Map<string, Buffer>();
  const clients = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [Buffer.from(pair.private)] }, (client) => {
    clients.add(client);
    client.on('error', () => {});
    client.on('close', () => clients.delete(client));
    client.on('authentication', (ctx) => {
      const ok =
        ctx.method === 'publickey' &&
        ctx.username === user &&
        ctx.key.algo === allowed.type &&
        timingSafeEqual(ctx.key.data, allowed.getPublicSSH()) &&
        (!ctx.signature || allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true);
      if (ok) ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('session', (accept) => serveSession(client, accept(), files));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as AddressInfo).port,
    hostKey: pair.public.split(' ').slice(0, 2).join(' '),
    files,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.end();
        server.close(() => resolve());
      }),
  };
}

function serveSession(client: Connection, session: Session, files: Map<string, Buffer>): void {
  const env: Record<string, string> = {};
  let agent = false;
  session.on('auth-agent', (accept) => {
    agent = true;
    accept?.();
  });
  let pty: { term: string; cols: number; rows: number } | undefined;
  let shell: ServerChannel | undefined;
  session.on('env', (accept, _reject, info) => {
    env[info.key] = info.val;
    accept?.();
  });
  session.on('pty', (accept, _reject, info) => {
    pty = info;
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    accept?.();
    shell?.write(`window ${info.cols}x${info.rows}\r\n`);
  });
  session.on('exec', (accept, _reject, info) => {
    const channel = accept();
    const [command, arg] = info.command.split(' ');
    if (command === 'cat') {
      channel.on('data', (d: Buffer) => channel.write(d));
      channel.once('end', () => {
        channel.exit(0);
        channel.end();
      });
      return;
    }
    const finish = (code: number, text: string) => {
      channel.write(text);
      channel.exit(code);
      channel.end();
    };
    if (command === 'status') return finish(Number(arg), `ran: ${info.command}\n`);
    if (command === 'stderr') {
      // N bytes on stderr and nothing on stdout, the exit status as soon as the last is sent, as sshd.
      channel.stderr.write(Buffer.alloc(Number(arg), 'e'), () => finish(0, ''));
      return;
    }
    if (command === 'env') return finish(0, `${env[arg ?? ''] ?? '(unset)'}\n`);
    if (command === 'agent-list') {
      if (!agent) return finish(0, 'no agent\n');
      void countAgentKeys(client).then((n) => finish(0, `agent identities: ${n}\n`), (err: Error) => finish(1, `agent failed: ${err.message}\n`));
      return;
    }
    finish(0, `ran: ${info.command}\n`);
  });
  session.on('shell', (accept) => {
    const channel = (shell = accept());
    channel.write(pty ? `pty ${pty.term} ${pty.cols}x${pty.rows}\r\n` : 'no pty\r\n');
    let line = '';
    channel.on('data', (d: Buffer) => {
      line += d.toString().replace(/\r/g, '\n');
      let end: number;
      while ((end = line.indexOf('\n')) >= 0) {
        const said = line.slice(0, end);
        line = line.slice(end + 1);
        if (said === '') continue;
        if (said === 'exit') {
          channel.exit(7);
          channel.end();
          return;
        }
        channel.write(`you said: ${said}\r\n`);
      }
    });
  });
  session.on('sftp', (accept) => serveSftp(accept(), files));
}

/** Asks the client's forwarded agent for its keys (SSH_AGENTC_REQUEST_IDENTITIES) and counts them. */
async function countAgentKeys(client: Connection): Promise<number> {
  const channel = await openAgentChannel(client);
  return new Promise((resolve, reject) => {
    let reply = Buffer.alloc(0);
    channel.on('data', (d: Buffer) => {
      reply = Buffer.concat([reply, d]);
      if (reply.length < 4 || reply.length < 4 + reply.readUInt32BE(0)) return;
      channel.close();
      // SSH_AGENT_IDENTITIES_ANSWER (12), then the key count.
      if (reply[4] !== 12) reject(new Error(`agent answered type ${reply[4]}`));
      else resolve(reply.readUInt32BE(5));
    });
    channel.write(Buffer.from([0, 0, 0, 1, 11]));
  });
}

/** Just enough SFTP for `put` and `get`: one open file per handle, kept in memory. */
function serveSftp(sftp: SFTPWrapper, files: Map<string, Buffer>): void {
  const handles = new Map<number, string>();
  let next = 0;
  const attrs = (size: number) => ({ mode: 0o100644, uid: 0, gid: 0, size, atime: 0, mtime: 0 });
  const pathOf = (handle: Buffer) => handles.get(handle.readUInt32BE(0));
  // The client's EOF ends the subsystem, as sftp-server exits on it.
  sftp.once('end', () => sftp.end());
  sftp.on('REALPATH', (id, path) => sftp.name(id, [{ filename: path.startsWith('/') ? path : `/${path === '.' ? '' : path}`, longname: path, attrs: attrs(0) }]));
  sftp.on('OPEN', (id, filename, flags) => {
    if (flags & ssh2.utils.sftp.OPEN_MODE.TRUNC || !files.has(filename)) {
      if (!(flags & ssh2.utils.sftp.OPEN_MODE.WRITE)) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE);
      files.set(filename, Buffer.alloc(0));
    }
    const handle = Buffer.alloc(4);
    handle.writeUInt32BE(++next);
    handles.set(next, filename);
    sftp.handle(id, handle);
  });
  sftp.on('WRITE', (id, handle, offset, data) => {
    const path = pathOf(handle);
    if (path === undefined) return sftp.status(id, STATUS_CODE.FAILURE);
    const old = files.get(path)!;
    const grown = Buffer.alloc(Math.max(old.length, offset + data.length));
    old.copy(grown);
    data.copy(grown, offset);
    files.set(path, grown);
    sftp.status(id, STATUS_CODE.OK);
  });
  sftp.on('READ', (id, handle, offset, length) => {
    const content = files.get(pathOf(handle) ?? '');
    if (!content) return sftp.status(id, STATUS_CODE.FAILURE);
    if (offset >= content.length) return sftp.status(id, STATUS_CODE.EOF);
    sftp.data(id, content.subarray(offset, offset + length));
  });
  sftp.on('FSTAT', (id, handle) => sftp.attrs(id, attrs(files.get(pathOf(handle) ?? '')?.length ?? 0)));
  for (const event of ['STAT', 'LSTAT'] as const) {
    sftp.on(event, (id: number, path: string) => {
      if (path === '/' || path === '.') return sftp.attrs(id, { ...attrs(0), mode: 0o40755 });
      const content = files.get(path);
      if (!content) return sftp.status(id, STATUS_CODE.NO_SUCH_FILE);
      sftp.attrs(id, attrs(content.length));
    });
  }
  sftp.on('CLOSE', (id, handle) => {
    handles.delete(handle.readUInt32BE(0));
    sftp.status(id, STATUS_CODE.OK);
  });
  for (const event of ['SETSTAT', 'FSETSTAT'] as const) sftp.on(event, (id: number) => sftp.status(id, STATUS_CODE.OK));
  for (const event of ['OPENDIR', 'READDIR', 'REMOVE', 'RMDIR', 'MKDIR', 'RENAME', 'READLINK', 'SYMLINK'] as const) {
    sftp.on(event, (id: number) => sftp.status(id, STATUS_CODE.OP_UNSUPPORTED));
  }
}
