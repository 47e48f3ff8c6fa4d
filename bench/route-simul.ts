// By hand (issue 13): "petrel pair route" and "petrel pair no route" (bench/run.ts) under load at the
// same time: their four sidecars share the proxy CPU and the two wrk the load CPU, so both pairs see
// the same contention at every instant, and the req/s ratio of one round is not the difference
// between two 10 s windows of a busy machine. Each round starts fresh pairs (a new control plane and
// JIT each). Prints each round's req/s and CPU µs/req of both pairs, their upstream connections
// midway through the run (petrel_upstream_connections of the outbound sidecars), and the medians.
// Usage: node dist/bench/route-simul.js [seconds=10] [rounds=5] [aa|nn: both pairs with the route, or both without]
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { routeSideBySide } from './route-side-by-side.ts';
import { freePort, startPinned, stop, waitForHttp } from './processes.ts';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 5);
const calibrate = process.argv[4];
const work = mkdtempSync(join(tmpdir(), 'petrel-route-simul-'));
const ctx = { petrel: join(resolve(import.meta.dirname, '..'), 'bin', 'petrel.js'), work, proxyCpu: '0', loadCpu: '1' };
const upPort = await freePort();
const dir = join(work, `nginx-${upPort}`);
mkdirSync(dir, { recursive: true });
writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
  `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 60s;\n` +
  `  server { listen 127.0.0.1:${upPort}; location / { return 200 "ok\\n"; } }\n}\n`);
const nginx = startPinned('1', '/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')]);
await waitForHttp(`http://127.0.0.1:${upPort}/`);
try {
  const result = await routeSideBySide(ctx, `127.0.0.1:${upPort}`, seconds, rounds, calibrate === 'aa' || calibrate === 'nn' ? calibrate : undefined, (line) => console.log(line));
  console.log(`median of ${rounds} rounds of ${seconds}s: ${result.rpsRatio.toFixed(3)} req/s, ${result.cpuRatio.toFixed(3)} CPU per request`);
} finally {
  await stop(nginx);
}
