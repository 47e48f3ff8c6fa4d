// Should HTTP/1.1 requests travel between sidecars over HTTP/2 (Linkerd's orig-proto upgrade)?
// Measured, not assumed: the same two bare forwarders in a row (an outbound and an inbound sidecar
// without policy), once with HTTP/1.1 on the middle hop (undici Pool) and once with one HTTP/2
// session, under the same wrk load to an nginx upstream. Reports requests/s and the two
// forwarders' CPU per request. Forwarders pinned to CPU 0, wrk and nginx to CPU 1; bounded by
// wrk's duration. Run alone: node dist/bench/h2-transport.js [SECONDS]
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cpuSeconds, freePort, startPinned, stop, waitForHttp, wrk } from './processes.ts';

const DIST = resolve(import.meta.dirname, '..');
const FORWARDER = join(DIST, 'bench', 'h2-transport-forwarder.js');
const BARE = join(DIST, 'bench', 'bare-undici.js');

export interface TransportRow {
  middle: 'HTTP/1.1' | 'HTTP/2';
  /** At 64 connections. */
  rps: number; cpuUsPerReq: number; p99ms: number; errors: number;
  /** At 1 connection: latency and CPU per request when nothing can be batched. */
  p50ms1: number; cpuUsPerReq1: number;
}

async function nginxUpstream(dir: string, port: number): Promise<ChildProcess> {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
    `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n` +
    `  server { listen 127.0.0.1:${port}; location / { return 200 "hello from the upstream\\n"; } }\n}\n`);
  const child = startPinned('1', '/usr/sbin/nginx', ['-c', conf, '-p', dir, '-e', join(dir, 'error.log')]);
  await waitForHttp(`http://127.0.0.1:${port}/`);
  return child;
}

async function measure(middle: TransportRow['middle'], upstream: string, seconds: number): Promise<TransportRow> {
  const [front, back] = [await freePort(), await freePort()];
  const node = process.execPath;
  const backProc = middle === 'HTTP/2'
    ? startPinned('0', node, [FORWARDER, 'back-h2', String(back), upstream])
    : startPinned('0', node, [BARE, String(back), upstream]);
  const frontProc = startPinned('0', node, [FORWARDER, middle === 'HTTP/2' ? 'front-h2' : 'front-h1', String(front), `http://127.0.0.1:${back}`]);
  try {
    await waitForHttp(`http://127.0.0.1:${front}/`);
    wrk('1', `http://127.0.0.1:${front}/`, 64, 2); // warm-up
    const pids = [frontProc.pid as number, backProc.pid as number];
    const run = (connections: number) => {
      const before = cpuSeconds(pids);
      const result = wrk('1', `http://127.0.0.1:${front}/`, connections, seconds);
      return { result, cpuUs: ((cpuSeconds(pids) - before) * 1e6) / Math.max(1, result.requests) };
    };
    const many = run(64);
    const one = run(1);
    return {
      middle, rps: many.result.rps, cpuUsPerReq: many.cpuUs, p99ms: many.result.p99ms, errors: many.result.errors + one.result.errors,
      p50ms1: one.result.p50ms, cpuUsPerReq1: one.cpuUs,
    };
  } finally {
    await Promise.all([stop(frontProc), stop(backProc)]);
  }
}

/** Both variants, alternated `rounds` times; the median of each. */
export async function h2TransportBench(seconds: number, rounds = 3): Promise<TransportRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-h2-transport-'));
  const port = await freePort();
  const nginx = await nginxUpstream(join(dir, 'nginx'), port);
  const upstream = `http://127.0.0.1:${port}`;
  try {
    const runs: Record<TransportRow['middle'], TransportRow[]> = { 'HTTP/1.1': [], 'HTTP/2': [] };
    for (let i = 0; i < rounds; i++) {
      for (const middle of ['HTTP/1.1', 'HTTP/2'] as const) runs[middle].push(await measure(middle, upstream, seconds));
    }
    return (['HTTP/1.1', 'HTTP/2'] as const).map((middle) => {
      const sorted = [...runs[middle]].sort((a, b) => a.cpuUsPerReq - b.cpuUsPerReq);
      return sorted[Math.floor(sorted.length / 2)] as TransportRow;
    });
  } finally {
    await stop(nginx);
  }
}

export function transportTable(rows: TransportRow[]): string {
  const lines = [
    '| middle hop (HTTP/1.1 clients) | req/s @64 | CPU µs/req @64, both forwarders | p99 ms @64 | p50 ms @1 | CPU µs/req @1 | errors |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    lines.push(`| ${r.middle} | ${r.rps.toFixed(0)} | ${r.cpuUsPerReq.toFixed(1)} | ${r.p99ms.toFixed(2)} | ${r.p50ms1.toFixed(3)} | ${r.cpuUsPerReq1.toFixed(1)} | ${r.errors} |`);
  }
  return lines.join('\n');
}

if (process.argv[1] === import.meta.filename) {
  const rows = await h2TransportBench(Number(process.argv[2] ?? 5));
  process.stdout.write(`${transportTable(rows)}\n`);
  process.exit(0);
}
