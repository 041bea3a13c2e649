/**
 * Preloaded with `--import` into every Node process the bench starts when `--profile DIR` is
 * given (NODE_OPTIONS refuses `--cpu-prof` itself): records a V8 CPU profile from start to exit
 * and writes it to DIR as `<script>-<pid>.cpuprofile`, loadable in Chrome DevTools or read by
 * profile-summary.ts.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { basename, join } from 'node:path';

const dir = process.env.NETUNNEL_BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  // In-process inspector calls complete synchronously, so this still works inside 'exit'.
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      const script = basename(process.argv[1] ?? 'node', '.js');
      writeFileSync(join(dir, `${script}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
