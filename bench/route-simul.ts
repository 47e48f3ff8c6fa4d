// By hand (issue 13): "petrel pair route" and "petrel pair no route" (bench/run.ts) under load at the
// same time: their four sidecars share the proxy CPU and the two wrk the load CPU, so both pairs see
// the same contention at every instant, and the req/s ratio of one round is not the difference
// between two 10 s windows of a busy machine. Each round starts fresh pairs (a new control plane and
// JIT each). Prints each round's req/s and CPU µs/req of both pairs, their upstream connections
// midway through the run (petrel_upstream_connections of the outbound sidecars), and the medians.
// Usage: node dist/bench/route-simul.js [seconds=10] [rounds=5] [aa|nn: both pairs with the route, or both without]
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { routeSideBySide } from './route-side-by-side.ts';
import { startOkNginx, stop } from './processes.ts';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 5);
const calibrate = process.argv[4];
const work = mkdtempSync(join(tmpdir(), 'petrel-route-simul-'));
const ctx = { petrel: join(resolve(import.meta.dirname, '..'), 'bin', 'petrel.js'), work, proxyCpu: '0', loadCpu: '1' };
const { port: upPort, proc: nginx } = await startOkNginx(work, '1');
try {
  const result = await routeSideBySide(ctx, `127.0.0.1:${upPort}`, seconds, rounds, calibrate === 'aa' || calibrate === 'nn' ? calibrate : undefined, (line) => console.log(line));
  console.log(`median of ${rounds} rounds of ${seconds}s: ${result.rpsRatio.toFixed(3)} req/s, ${result.cpuRatio.toFixed(3)} CPU per request`);
} finally {
  await stop(nginx);
}
