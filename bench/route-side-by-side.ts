// Issue 13's figure, measured so that machine noise cannot decide it: "petrel pair route" (a
// three-rule HTTPRoute in force) and "petrel pair no route" under load at the same time. Their four
// sidecars share the proxy CPU and the two wrk the load CPU, so both pairs meet the same contention at
// every instant, and a round's req/s ratio is not the difference between two windows of a busy
// machine (run one after the other, the same code gave 0.69x to 1.17x today). Each round starts fresh
// pairs (a new control plane and JIT each); odd rounds start the other pair first. `calibrate` runs
// two identical pairs, to show the method's own spread. Used by bench/run.ts and bench/route-simul.ts.
import { metricSum, startMeshPair, waitForConfig, type MeshContext, type MeshPair } from './mesh-tls.ts';
import { ROUTE_RULE, THREE_RULE_ROUTE } from './route-micro.ts';
import { cpuSeconds, processTree, wrkAsync } from './processes.ts';

export interface SideBySideRound {
  rps: [number, number];
  cpuUsPerReq: [number, number];
  errors: [number, number];
  /** petrel_upstream_connections of each outbound sidecar midway through the load. */
  connections: [number, number];
}

export interface SideBySide {
  names: [string, string];
  rounds: SideBySideRound[];
  /** Medians of the rounds' ratios, first pair over second. */
  rpsRatio: number;
  cpuRatio: number;
}

const median = (x: number[]): number => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)] as number;

export async function routeSideBySide(ctx: MeshContext, upstream: string, seconds: number, rounds: number, calibrate?: 'aa' | 'nn', log: (line: string) => void = () => {}): Promise<SideBySide> {
  const names: [string, string] = calibrate === undefined ? ['route', 'no route'] : ['pair A', 'pair B'];
  return sideBySide([ctx, ctx], [calibrate !== 'nn', calibrate === 'aa'], names, upstream, seconds, rounds, log);
}

/**
 * Two builds of Petrel side by side (BENCH_BASELINE: this checkout's pair against an older one's), no
 * route on either: what a change costs, judged the same way as the route.
 */
export function buildsSideBySide(current: MeshContext, baseline: MeshContext, upstream: string, seconds: number, rounds: number, log: (line: string) => void = () => {}): Promise<SideBySide> {
  return sideBySide([current, baseline], [false, false], ['this build', 'baseline'], upstream, seconds, rounds, log);
}

async function sideBySide(ctxs: [MeshContext, MeshContext], withRoute: [boolean, boolean], names: [string, string], upstream: string, seconds: number, rounds: number, log: (line: string) => void): Promise<SideBySide> {
  const start = (i: number) => startMeshPair(ctxs[i] as MeshContext, false, upstream, {}, withRoute[i] ? { 'upstream-route.yaml': THREE_RULE_ROUTE } : {});
  const out: SideBySideRound[] = [];
  for (let r = 0; r < rounds; r++) {
    const pairs: MeshPair[] = r % 2 === 0 ? [await start(0), await start(1)] : [await start(1), await start(0)].reverse();
    try {
      for (const [i, p] of pairs.entries()) if (withRoute[i]) await waitForConfig(p.client.admin, ROUTE_RULE);
      const load = (s: number) => Promise.all(pairs.map((p) => wrkAsync(ctxs[0].loadCpu, `http://127.0.0.1:${p.client.outbound}/`, 64, s, ['Host: upstream'])));
      await load(3);
      const pids = pairs.map((p) => p.procs.flatMap((c) => processTree(c.pid as number)));
      const c0 = pids.map(cpuSeconds);
      const running = load(seconds);
      await new Promise((done) => setTimeout(done, (seconds * 1000) / 2));
      const connections = await Promise.all(pairs.map((p) => fetch(`http://127.0.0.1:${p.client.admin}/metrics`)
        .then((m) => m.text()).then((t) => metricSum(t, 'petrel_upstream_connections'))));
      const res = await running;
      const us = pids.map((p, i) => ((cpuSeconds(p) - (c0[i] as number)) * 1e6) / res[i]!.requests);
      const round: SideBySideRound = {
        rps: [res[0]!.rps, res[1]!.rps], cpuUsPerReq: [us[0]!, us[1]!], errors: [res[0]!.errors, res[1]!.errors], connections: [connections[0]!, connections[1]!],
      };
      out.push(round);
      log(`round ${r + 1}/${rounds}: ${names[0]} ${round.rps[0].toFixed(0)} req/s ${round.cpuUsPerReq[0].toFixed(1)} µs/req; ${names[1]} ${round.rps[1].toFixed(0)} req/s ` +
        `${round.cpuUsPerReq[1].toFixed(1)} µs/req; ratio ${(round.rps[0] / round.rps[1]).toFixed(3)}; upstream connections midway ${round.connections.join('/')}`);
    } finally {
      for (const p of pairs) await p.stop();
    }
  }
  return {
    names,
    rounds: out,
    rpsRatio: median(out.map((r) => r.rps[0] / r.rps[1])),
    cpuRatio: median(out.map((r) => r.cpuUsPerReq[0] / r.cpuUsPerReq[1])),
  };
}
