import { fileURLToPath } from 'node:url';
import { spawnNode, startClientProcess, startServerProcess } from '../test/support/processes.js';
import { onCleanup } from './cleanup.js';
import { SOCAT_BLOCK_SIZE, socatInstalled, startSocatRelay } from './socat.js';
import { SSH_CASES } from './ssh-cases.js';

/** What sits between the source and the sink in each case. */
export interface Path {
  /** Where the source connects. */
  entrancePort: number;
  /** The tunnel's own processes, whose CPU time is measured (none for `direct`). */
  pids: number[];
}

export interface BenchCase {
  id: string;
  label: string;
  /** Which processes make up the tunnel, for the table. */
  processes: string;
  /** Why the case cannot run here, if it cannot. */
  unavailable?(): string | undefined;
  /** Starts the tunnel to `sinkPort`; everything started is registered with onCleanup. */
  start(sinkPort: number): Promise<Path>;
}

const NODE_RELAY = fileURLToPath(new URL('./node-relay.js', import.meta.url));

/** Starts a plain Node relay (node-relay.ts) to `targetPort`; resolves with its pid and port. */
async function startNodeRelay(targetPort: number): Promise<{ pid: number; port: number }> {
  const relay = spawnNode(NODE_RELAY, [String(targetPort)]);
  onCleanup(() => relay.stop());
  const [, port] = await relay.waitFor(/relay listening on (\d+)/);
  return { pid: relay.child.pid!, port: Number(port) };
}

export const CASES: readonly BenchCase[] = [
  {
    id: 'direct',
    label: 'direct',
    processes: 'none (plain TCP to the far end)',
    start: async (sinkPort) => ({ entrancePort: sinkPort, pids: [] }),
  },
  {
    id: 'socat',
    label: 'socat relay pair',
    processes: `2 socat relays (fork, -b ${SOCAT_BLOCK_SIZE})`,
    unavailable: () => (socatInstalled() ? undefined : 'not installed'),
    async start(sinkPort) {
      const inner = await startSocatRelay(sinkPort);
      const outer = await startSocatRelay(inner.port);
      return { entrancePort: outer.port, pids: [outer.pid, inner.pid] };
    },
  },
  {
    id: 'node-relay',
    label: 'Node net relay pair',
    processes: '2 plain Node relays (socket.pipe both ways)',
    async start(sinkPort) {
      const inner = await startNodeRelay(sinkPort);
      const outer = await startNodeRelay(inner.port);
      return { entrancePort: outer.port, pids: [outer.pid, inner.pid] };
    },
  },
  {
    id: 'forward',
    label: 'netunnel forward',
    processes: 'server + client',
    async start(sinkPort) {
      const server = await startServerProcess();
      onCleanup(() => server.stop());
      const client = await startClientProcess(['-s', server.url, '--no-reconnect', '--remote-port', String(sinkPort)]);
      onCleanup(() => client.stop());
      return { entrancePort: client.entrancePort, pids: [server.child.pid!, client.child.pid!] };
    },
  },
  {
    id: 'reverse',
    label: 'netunnel reverse',
    processes: 'server + client',
    async start(sinkPort) {
      const server = await startServerProcess();
      onCleanup(() => server.stop());
      const client = await startClientProcess([
        '-s', server.url, '--no-reconnect', '-r', '--local-port', String(sinkPort), '--remote-port', '0',
      ]);
      onCleanup(() => client.stop());
      return { entrancePort: client.entrancePort, pids: [server.child.pid!, client.child.pid!] };
    },
  },
  ...SSH_CASES,
];
