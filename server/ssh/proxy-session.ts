import type { Readable, Writable } from 'node:stream';
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Traffic } from '../../common/traffic.js';

/** Exit status of a session the proxy could not carry upstream: ssh's own for its failures. */
const PROXY_FAILURE = 255;

type Opener = (client: Client, done: (err: Error | undefined, channel: ClientChannel) => void) => void;

/** How a proxied session counts against its key and in the SSH door's metrics. */
export interface SessionAccounting {
  /** Takes one of the key's circuits (throws at its limit); the result gives it back. */
  claim: () => () => void;
  traffic?: Traffic;
}

/** What the client asked for before its shell, exec or subsystem: replayed upstream. */
interface SessionSetup {
  pty?: PseudoTtyInfo;
  env: Record<string, string>;
  agent?: boolean;
}

/**
 * Replays one client session upstream and relays it: pty, env and the agent request are
 * answered at once and remembered; the shell, exec or subsystem is accepted at once too (so
 * no byte is lost while the upstream connection opens) and then opened upstream. A failure
 * is one line on the session's stderr and exit status 255. Each session is a circuit of its key
 * (max_circuits_per_key) and counts in the SSH door's traffic.
 */
export function proxySession(session: Session, upstream: () => Promise<Client>, agentAllowed: boolean, log: Logger, accounting: SessionAccounting): void {
  let remote: ClientChannel | undefined;
  let started = false;
  const setup = recordSetup(session, agentAllowed, () => remote);

  const start = (accept: () => ServerChannel, what: string, open: Opener): void => {
    if (started) return;
    started = true;
    // Accepted at once, so no byte the client sends meanwhile is lost; held until upstream is ready.
    const local = accept();
    local.on('error', () => {});
    local.pause();
    let localClosed = false;
    local.once('close', () => (localClosed = true));
    const refuse = (err: unknown) => {
      log.info(`SSH ${what} not proxied: ${errorMessage(err)}`);
      local.stderr.write(`netunnel: ${errorMessage(err)}${setup.pty ? '\r\n' : '\n'}`);
      local.exit(PROXY_FAILURE);
      local.end();
      // Its input goes nowhere now; read on, or the channel never ends and never closes
      // (nor gives its circuit back).
      local.resume();
    };
    try {
      local.once('close', accounting.claim());
    } catch (err) {
      refuse(err);
      return;
    }
    upstream().then((client) => {
      try {
        open(client, (err, channel) => {
          if (err) return refuse(new Error(`the upstream refused the ${what}: ${err.message}`));
          if (localClosed) return channel.close();
          remote = channel;
          relay(local, channel, accounting.traffic);
        });
      } catch (err) {
        // ssh2 throws when the connection went away just before ("Not connected").
        refuse(new Error(`the connection to the upstream was lost (${errorMessage(err)})`));
      }
    }, refuse);
  };
  const pty = () => (setup.pty ? { term: setup.pty.term, rows: setup.pty.rows, cols: setup.pty.cols, height: setup.pty.height, width: setup.pty.width, modes: setup.pty.modes } : undefined);
  const env = () => ({ ...setup.env });
  const agent = () => (setup.agent ? { agentForward: true } : {});
  session.on('shell', (accept, reject) => {
    if (!accept) return reject?.();
    start(accept, 'shell', (client, done) => client.shell(pty() ?? false, { env: env(), ...agent() }, done));
  });
  session.on('exec', (accept, reject, info) => {
    if (!accept) return reject?.();
    const ptyOptions = pty();
    start(accept, 'command', (client, done) => client.exec(info.command, { env: env(), ...agent(), ...(ptyOptions ? { pty: ptyOptions } : {}) }, done));
  });
  session.on('subsystem', (accept, reject, info) => {
    if (!accept) return reject?.();
    start(accept, `subsystem ${info.name}`, (client, done) => client.subsys(info.name, done));
  });
}

/** Answers the requests that come before (or beside) the shell, exec or subsystem, and keeps what must be replayed. */
function recordSetup(session: Session, agentAllowed: boolean, remote: () => ClientChannel | undefined): SessionSetup {
  const setup: SessionSetup = { env: {} };
  session.on('pty', (accept, _reject, info) => {
    setup.pty = info;
    accept?.();
  });
  session.on('env', (accept, _reject, info) => {
    setup.env[info.key] = info.val;
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    accept?.();
    if (setup.pty) Object.assign(setup.pty, { rows: info.rows, cols: info.cols, height: info.height, width: info.width });
    remote()?.setWindow(info.rows, info.cols, info.height, info.width);
  });
  session.on('signal', (accept, _reject, info) => {
    accept?.();
    remote()?.signal(info.name);
  });
  // The agent (and X11) hand the upstream a way back into the client's machine: only if allowed.
  session.on('auth-agent', (accept, reject) => {
    if (!agentAllowed) return reject?.();
    setup.agent = true;
    accept?.();
  });
  session.on('x11', (_accept, reject) => reject?.());
  return setup;
}

/**
 * Relays one session both ways. The client's EOF goes upstream as EOF. The upstream's exit
 * status must reach the client before EOF (ssh2 sends no channel request after EOF, and
 * OpenSSH closes once both sides sent EOF), so EOF waits for the exit status, or for CLOSE;
 * each goes only once what came before is written (ssh2's server-side end() would send CLOSE
 * at once and lose the exit status).
 */
function relay(local: ServerChannel, remote: ClientChannel, traffic: Traffic | undefined): void {
  remote.on('error', () => {});
  if (traffic) local.once('close', traffic.connectionOpened());
  const up = (n: number) => {
    if (traffic) traffic.upstreamBytes += n;
  };
  const down = (n: number) => {
    if (traffic) traffic.downstreamBytes += n;
  };
  carry(local, remote, up);
  carry(remote, local, down);
  carry(remote.stderr, local.stderr, down);
  local.once('end', () => remote.end());
  let exit: unknown[] | undefined;
  let ended = false;
  let localClosed = false;
  let output: Promise<void> | undefined;
  // stderr is a stream of its own: its end, and what it still holds, must not be left behind.
  const stderrEnded = new Promise<void>((resolve) => {
    remote.stderr.once('end', resolve);
    remote.stderr.once('close', resolve);
  });
  const endOutput = () =>
    (output ??= stderrEnded
      .then(() => Promise.all([flushed(local), flushed(local.stderr)]))
      .then(() => {
        if (exit) (local.exit as (...a: unknown[]) => void)(...(exit[0] === null ? exit.slice(1, 4) : exit.slice(0, 1)));
        local.eof();
      }));
  remote.once('end', () => {
    ended = true;
    if (exit) void endOutput();
  });
  remote.on('exit', (...args: unknown[]) => {
    exit = args;
    if (ended) void endOutput();
  });
  remote.once('close', () => {
    // As OpenSSH's "Connection to ... closed by remote host.": the user learns why it ended.
    if (!exit && !localClosed) local.stderr.write('netunnel: the upstream closed the session without an exit status\r\n');
    void endOutput().then(() => local.close());
  });
  local.once('close', () => {
    localClosed = true;
    remote.close();
  });
  local.resume();
}

/** Resolves once everything written to `stream` so far has gone out. */
function flushed(stream: Writable): Promise<void> {
  return new Promise((resolve) => stream.write(Buffer.alloc(0), () => resolve()));
}

/** Bytes from `src` to `dst`, pausing `src` while `dst` is full; `count` sees each chunk's size. */
function carry(src: Readable, dst: Writable, count: (bytes: number) => void): void {
  src.on('data', (chunk: Buffer) => {
    count(chunk.length);
    if (!dst.write(chunk)) src.pause();
  });
  dst.on('drain', () => src.resume());
}
