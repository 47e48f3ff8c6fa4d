// By hand (issue 13): "petrel pair route" and "petrel pair no route" (bench/run.ts) one after the
// other, in alternating order, each with a fresh control plane and pair, under a bounded wrk run:
// req/s, CPU µs/req of the outbound and the inbound sidecar and the control plane's CPU, upstream
// connections after the run (petrel_upstream_connections), connections to the inbound sidecar left
// in TIME-WAIT (new connections during the run), and whether the snapshot changed during it. With
// `prof`, both sidecars of each pair run with --cpu-prof into OUTDIR/<mode>-<round>/ (the outbound
// sidecar has the higher pid); bench/cpuprofile-diff.ts compares two profiles.
// Usage: node dist/bench/route-profile.js OUTDIR [seconds=10] [rounds=2] [prof]
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { metricSum, startMeshPair, waitForConfig } from './mesh-tls.ts';
import { cpuSeconds, processTree, startOkNginx, stop, wrk } from './processes.ts';
import { ROUTE_RULE, THREE_RULE_ROUTE } from './route-micro.ts';
import { sidecarNodeFlags } from '../sidecar/runtime-flags.ts';

const out = resolve(process.argv[2] ?? 'route-profile');
const seconds = Number(process.argv[3] ?? 10);
const rounds = Number(process.argv[4] ?? 2);
const prof = process.argv[5] === 'prof';
const work = join(out, 'work');
mkdirSync(work, { recursive: true });
const ctx = { petrel: join(resolve(import.meta.dirname, '..'), 'bin', 'petrel.js'), work, proxyCpu: '0', loadCpu: '1' };
const metrics = (admin: number) => fetch(`http://127.0.0.1:${admin}/metrics`).then((r) => r.text());

const { port: upPort, proc: nginx } = await startOkNginx(work, '1');
try {
  for (let r = 0; r < rounds; r++) {
    for (const routed of r % 2 === 0 ? [true, false] : [false, true]) {
      const name = `${routed ? 'route' : 'noroute'}-${r}`;
      const env = prof ? { PETREL_SIDECAR_NODE_FLAGS: [...sidecarNodeFlags({}), '--cpu-prof', `--cpu-prof-dir=${join(out, name)}`].join(' ') } : {};
      const pair = await startMeshPair(ctx, false, `127.0.0.1:${upPort}`, env, routed ? { 'upstream-route.yaml': THREE_RULE_ROUTE } : {});
      try {
        if (routed) await waitForConfig(pair.client.admin, ROUTE_RULE);
        const url = `http://127.0.0.1:${pair.client.outbound}/`;
        wrk('1', url, 64, 2, ['Host: upstream']);
        const pids = [...pair.procs.map((p) => processTree(p.pid as number)), processTree(pair.control.proc.pid as number)];
        const version = metricSum(await metrics(pair.client.admin), 'petrel_config_version');
        const c0 = pids.map(cpuSeconds);
        const res = wrk('1', url, 64, seconds, ['Host: upstream']);
        const cpu = pids.map((p, i) => cpuSeconds(p) - (c0[i] as number));
        const timeWait = execFileSync('ss', ['-tanH', 'state', 'time-wait']).toString().split('\n').filter((l) => l.includes(`:${pair.server.inbound} `)).length;
        const after = await metrics(pair.client.admin);
        const us = (i: number) => (((cpu[i] as number) * 1e6) / res.requests).toFixed(1);
        console.log(`${name}: ${res.rps.toFixed(0)} req/s, errors ${res.errors}; CPU µs/req outbound ${us(0)}, inbound ${us(1)}; control plane ${((cpu[2] as number) * 1000).toFixed(0)} ms; ` +
          `upstream connections ${metricSum(after, 'petrel_upstream_connections')}, TIME-WAIT to the inbound sidecar ${timeWait}; ` +
          `snapshot ${metricSum(after, 'petrel_config_version') === version ? 'unchanged' : 'CHANGED'}; outbound requests over the sidecar's life ${metricSum(after, 'petrel_requests_total', { direction: 'outbound' })}`);
      } finally {
        await pair.stop();
      }
    }
  }
} finally {
  await stop(nginx);
}
