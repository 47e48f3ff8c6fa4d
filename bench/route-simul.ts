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
import { metricSum, startMeshPair, waitForConfig, type MeshPair } from './mesh-tls.ts';
import { ROUTE_RULE, THREE_RULE_ROUTE } from './route-micro.ts';
import { cpuSeconds, freePort, processTree, startPinned, stop, waitForHttp, wrkAsync } from './processes.ts';

const seconds = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 5);
const calibrate = process.argv[4];
const names = calibrate === 'aa' || calibrate === 'nn' ? ['pair A', 'pair B'] : ['route', 'no route'];
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
const ratios: number[] = [];
const cpuRatios: number[] = [];
try {
  for (let r = 0; r < rounds; r++) {
    // Odd rounds start the second pair first. `aa` (both routed) and `nn` (neither) calibrate the method.
    const withRoute = [calibrate !== 'nn', calibrate === 'aa'];
    const start = (i: number) => startMeshPair(ctx, false, `127.0.0.1:${upPort}`, {}, withRoute[i] ? { 'upstream-route.yaml': THREE_RULE_ROUTE } : {});
    const [routed, plain] = r % 2 === 0 ? [await start(0), await start(1)] : [await start(1), await start(0)].reverse() as [MeshPair, MeshPair];
    try {
      for (const [i, p] of [routed, plain].entries()) if (withRoute[i]) await waitForConfig(p.client.admin, ROUTE_RULE);
      const pairs = [routed, plain];
      const load = (s: number) => Promise.all(pairs.map((p) => wrkAsync('1', `http://127.0.0.1:${p.client.outbound}/`, 64, s, ['Host: upstream'])));
      await load(3);
      const pids = pairs.map((p) => p.procs.flatMap((c) => processTree(c.pid as number)));
      const c0 = pids.map(cpuSeconds);
      const running = load(seconds);
      await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
      const connections = await Promise.all(pairs.map((p) => fetch(`http://127.0.0.1:${p.client.admin}/metrics`)
        .then((m) => m.text()).then((t) => metricSum(t, 'petrel_upstream_connections'))));
      const res = await running;
      const us = pids.map((p, i) => ((cpuSeconds(p) - c0[i]!) * 1e6) / res[i]!.requests);
      ratios.push(res[0]!.rps / res[1]!.rps);
      cpuRatios.push(us[0]! / us[1]!);
      console.log(`round ${r}: ${names[0]} ${res[0]!.rps.toFixed(0)} req/s ${us[0]!.toFixed(1)} µs/req; ${names[1]} ${res[1]!.rps.toFixed(0)} req/s ${us[1]!.toFixed(1)} µs/req; ` +
        `ratio ${ratios.at(-1)!.toFixed(3)} req/s, ${cpuRatios.at(-1)!.toFixed(3)} CPU; errors ${res[0]!.errors}/${res[1]!.errors}; ` +
        `upstream connections midway ${connections[0]}/${connections[1]}`);
    } finally {
      await routed.stop();
      await plain.stop();
    }
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]!;
  console.log(`median of ${rounds} rounds of ${seconds}s: ${med(ratios).toFixed(3)} req/s, ${med(cpuRatios).toFixed(3)} CPU per request`);
} finally {
  await stop(nginx);
}
