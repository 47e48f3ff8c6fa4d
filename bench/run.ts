// `make bench`: Petrel against direct, nginx and a bare undici forwarder, in one run on loopback.
// Proxies are pinned to CPU 0; wrk and the upstream (nginx returning a small body) to CPU 1.
// Reports requests/s at 64 connections, p50/p99 at 1 connection, proxy CPU µs per request and
// peak RSS, with ratios. Bounded: every wrk run has a fixed duration.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { policyMicrobench } from './policy-micro.ts';
import { controlScale } from './control-scale.ts';
import {
  anonRssMb, cpuSeconds, freePort, peakRssMb, processTree, startPinned, stop, waitForHttp, wrk, type WrkResult,
} from './processes.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
const PROXY_CPU = '0';
const LOAD_CPU = '1';
const DIST = resolve(import.meta.dirname, '..');
const PETREL = join(DIST, 'bin', 'petrel.js');
const BARE_UNDICI = join(DIST, 'bench', 'bare-undici.js');
const work = mkdtempSync(join(tmpdir(), 'petrel-bench-'));

interface Scenario {
  name: string;
  /** Starts the proxies; returns the URL and Host header wrk uses, and the proxy processes. */
  start(upstreamPort: number): Promise<{ url: string; host?: string; procs: ChildProcess[] }>;
}

interface Row extends WrkResult { name: string; cpuUsPerReq: number; peakRssMb: number; anonRssMb: number; lat: WrkResult }

function nginxConf(dir: string, body: string): string {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
    `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 60s;\n${body}\n}\n`);
  return conf;
}

function startNginx(cpus: string, name: string, body: string): ChildProcess {
  const dir = join(work, name);
  return startPinned(cpus, '/usr/sbin/nginx', ['-c', nginxConf(dir, body), '-p', dir, '-e', join(dir, 'error.log')]);
}

function nginxProxy(cpus: string, name: string, listen: number, target: number): ChildProcess {
  return startNginx(cpus, name, `  upstream up { server 127.0.0.1:${target}; keepalive 128; }\n` +
    `  server { listen 127.0.0.1:${listen}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }`);
}

let otlpSink = '';

function petrelSidecar(service: string, ports: { inbound: number; outbound: number; admin: number }, snapshotServices: unknown[], app?: string, extraEnv: NodeJS.ProcessEnv = {}, bin = PETREL): ChildProcess {
  if (extraEnv.OTEL_EXPORTER_OTLP_ENDPOINT === 'OTLP_SINK') extraEnv = { ...extraEnv, OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink };
  const file = join(work, `${service}-${ports.inbound}.yaml`);
  writeFileSync(file, stringify({ apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1, services: snapshotServices }));
  return startPinned(PROXY_CPU, process.execPath, [
    bin, 'sidecar', '--service', service, '--config', file, '--log-level', 'warn',
    '--inbound-host', '127.0.0.1', '--inbound-port', String(ports.inbound), '--outbound-port', String(ports.outbound),
    '--admin-host', '127.0.0.1', '--admin-port', String(ports.admin), ...(app ? ['--app', app] : []),
  ], { ...process.env, ...extraEnv });
}

const ports = async () => ({ inbound: await freePort(), outbound: await freePort(), admin: await freePort() });

function petrelScenarios(label: string, env: NodeJS.ProcessEnv, bin = PETREL): Scenario[] {
  return [
    {
      name: `petrel 1 hop${label}`,
      async start(up) {
        const p = await ports();
        const proc = petrelSidecar('upstream', p, [], `127.0.0.1:${up}`, env, bin);
        await waitForHttp(`http://127.0.0.1:${p.admin}/ready`);
        return { url: `http://127.0.0.1:${p.inbound}/`, host: 'upstream', procs: [proc] };
      },
    },
    {
      name: `petrel pair${label}`,
      async start(up) {
        const server = await ports();
        const client = await ports();
        const a = petrelSidecar('upstream', server, [], `127.0.0.1:${up}`, env, bin);
        const b = petrelSidecar('client', client, [{ name: 'upstream', namespace: 'default', endpoints: [{ address: `127.0.0.1:${server.inbound}` }] }], undefined, env, bin);
        await waitForHttp(`http://127.0.0.1:${server.admin}/ready`);
        await waitForHttp(`http://127.0.0.1:${client.admin}/ready`);
        return { url: `http://127.0.0.1:${client.outbound}/`, host: 'upstream', procs: [b, a] };
      },
    },
  ];
}

/** Each policy alone, and all of them, with limits set high so that none of them refuses anything. */
const POLICIES: Record<string, Record<string, unknown>> = {
  timeouts: { timeout: { connect: '1s', perTry: '2s', total: '5s' } },
  retries: { retry: { attempts: 3, on: ['connect-failure', 'reset', 'gateway-error'], budget: { ratio: 0.2, minPerSecond: 10 } } },
  'circuit breaker': { circuitBreaker: { consecutiveFailures: 5, failureRate: { threshold: 0.5, window: '10s', minRequests: 20 }, openFor: '30s' } },
  'rate limit': { rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 } },
  concurrency: { concurrency: { maxRequests: 100_000, maxPending: 100_000 } },
  'round-robin': { loadBalancer: { policy: 'round-robin' } },
};
const FULL_POLICY = Object.assign({}, ...Object.values(POLICIES).filter((p) => !('loadBalancer' in p))) as Record<string, unknown>;

/** The outbound sidecar alone, straight to the upstream: where the policy chain runs. */
function outboundScenario(label: string, policy: Record<string, unknown> | undefined, env: NodeJS.ProcessEnv = {}): Scenario {
  return {
    name: `petrel outbound, ${label}`,
    async start(up) {
      const p = await ports();
      const proc = petrelSidecar('client', p, [{ name: 'upstream', namespace: 'default', endpoints: [{ address: `127.0.0.1:${up}` }], ...(policy ? { policy } : {}) }], undefined, env);
      await waitForHttp(`http://127.0.0.1:${p.admin}/ready`);
      return { url: `http://127.0.0.1:${p.outbound}/`, host: 'upstream', procs: [proc] };
    },
  };
}

const policyScenarios: Scenario[] = [
  outboundScenario('no policy', undefined),
  ...Object.entries(POLICIES).map(([name, policy]) => outboundScenario(name, policy)),
  outboundScenario('full policy', FULL_POLICY),
  outboundScenario('tracing 0% (spans made, none sampled)', undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'OTLP_SINK', OTEL_TRACES_SAMPLER_ARG: '0' }),
  outboundScenario('tracing 10%', undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'OTLP_SINK', OTEL_TRACES_SAMPLER_ARG: '0.1' }),
  outboundScenario('tracing 100%', undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'OTLP_SINK', OTEL_TRACES_SAMPLER_ARG: '1' }),
];

/** An OTLP/HTTP endpoint that accepts and drops spans, for the tracing scenarios. */
async function startOtlpSink(): Promise<{ url: string; close(): void }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

const scenarios: Scenario[] = [
  { name: 'direct', async start(up) { return { url: `http://127.0.0.1:${up}/`, procs: [] }; } },
  ...petrelScenarios('', {}),
  {
    name: 'nginx 1 hop',
    async start(up) {
      const port = await freePort();
      const proc = nginxProxy(PROXY_CPU, `nginx-hop-${port}`, port, up);
      await waitForHttp(`http://127.0.0.1:${port}/`);
      return { url: `http://127.0.0.1:${port}/`, procs: [proc] };
    },
  },
  {
    name: 'nginx pair',
    async start(up) {
      const [a, b] = [await freePort(), await freePort()];
      const inner = nginxProxy(PROXY_CPU, `nginx-in-${b}`, b, up);
      const outer = nginxProxy(PROXY_CPU, `nginx-out-${a}`, a, b);
      await waitForHttp(`http://127.0.0.1:${a}/`);
      return { url: `http://127.0.0.1:${a}/`, procs: [outer, inner] };
    },
  },
  {
    name: 'bare undici pair',
    async start(up) {
      const [a, b] = [await freePort(), await freePort()];
      const inner = startPinned(PROXY_CPU, process.execPath, [BARE_UNDICI, String(b), `http://127.0.0.1:${up}`]);
      const outer = startPinned(PROXY_CPU, process.execPath, [BARE_UNDICI, String(a), `http://127.0.0.1:${b}`]);
      await waitForHttp(`http://127.0.0.1:${a}/`);
      return { url: `http://127.0.0.1:${a}/`, procs: [outer, inner] };
    },
  },
  ...(process.env.BENCH_DEFAULT_V8 === '1' ? petrelScenarios(' (Node default V8 flags)', { PETREL_SIDECAR_NODE_FLAGS: '' }) : []),
  // BENCH_BASELINE=DIR: the same 1 hop and pair from another built checkout (an older commit),
  // interleaved in the same rounds, so a change is compared with its base on one machine at once.
  ...(process.env.BENCH_BASELINE ? petrelScenarios(' (baseline)', {}, join(resolve(process.env.BENCH_BASELINE), 'dist', 'bin', 'petrel.js')) : []),
  ...policyScenarios,
];

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function measure(scenario: Scenario, upstreamPort: number): Promise<Row> {
  const { url, host, procs } = await scenario.start(upstreamPort);
  const headers = host ? [`Host: ${host}`] : [];
  try {
    wrk(LOAD_CPU, url, 64, 2, headers); // warm-up: JIT, pools, keep-alive
    const pids = procs.flatMap((p) => processTree(p.pid as number));
    const cpuBefore = pids.length ? cpuSeconds(pids) : 0;
    const load = wrk(LOAD_CPU, url, 64, SECONDS, headers);
    const cpu = pids.length ? cpuSeconds(pids) - cpuBefore : 0;
    const anon = pids.length ? anonRssMb(pids) : 0;
    const lat = wrk(LOAD_CPU, url, 1, LATENCY_SECONDS, headers);
    return {
      name: scenario.name, ...load, lat, cpuUsPerReq: pids.length ? (cpu * 1e6) / load.requests : 0,
      peakRssMb: pids.length ? peakRssMb(pids) : 0, anonRssMb: anon,
    };
  } finally {
    await Promise.all(procs.map(stop));
  }
}

/** The median of each figure over the rounds (rounds interleave scenarios, so drift hits all alike). */
function combine(runs: Row[]): Row {
  const first = runs[0] as Row;
  const m = (f: (r: Row) => number) => median(runs.map(f));
  return {
    ...first, rps: m((r) => r.rps), requests: m((r) => r.requests), errors: runs.reduce((a, r) => a + r.errors + r.lat.errors, 0),
    cpuUsPerReq: m((r) => r.cpuUsPerReq), peakRssMb: Math.max(...runs.map((r) => r.peakRssMb)), anonRssMb: Math.max(...runs.map((r) => r.anonRssMb)),
    lat: { ...first.lat, p50ms: m((r) => r.lat.p50ms), p99ms: m((r) => r.lat.p99ms), errors: 0 },
  };
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  const sink = await startOtlpSink();
  otlpSink = sink.url;
  const upstreamPort = await freePort();
  const upstream = startNginx(LOAD_CPU, 'upstream', `  server { listen 127.0.0.1:${upstreamPort}; location / { return 200 "ok\\n"; } }`);
  await waitForHttp(`http://127.0.0.1:${upstreamPort}/`);
  // BENCH_ONLY: comma-separated substrings of scenario names.
  const wanted = only?.split(',').map((w) => w.trim()).filter((w) => w !== '');
  const selected = scenarios.filter((s) => !wanted || wanted.some((w) => s.name.includes(w)));
  const runs = new Map<string, Row[]>(selected.map((s) => [s.name, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const scenario of selected) {
        process.stderr.write(`bench: round ${round}/${ROUNDS}: ${scenario.name}...\n`);
        runs.get(scenario.name)?.push(await measure(scenario, upstreamPort));
      }
    }
  } finally {
    await stop(upstream);
    sink.close();
  }
  const rows = selected.map((s) => combine(runs.get(s.name) as Row[]));
  const byName = (n: string) => rows.find((r) => r.name === n);
  const direct = byName('direct');
  const lines = [
    `| scenario | req/s @64 | vs direct | p50 @1 (ms) | p99 @1 (ms) | proxy CPU µs/req | peak RSS per process (MB) | private RSS under load (MB) | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.name} | ${fmt(r.rps)} | ${direct ? fmt(r.rps / direct.rps, 2) : '-'} | ${fmt(r.lat.p50ms, 3)} | ${fmt(r.lat.p99ms, 3)} | ` +
      `${r.cpuUsPerReq ? fmt(r.cpuUsPerReq, 1) : '-'} | ${r.peakRssMb ? fmt(r.peakRssMb, 1) : '-'} | ${r.anonRssMb ? fmt(r.anonRssMb, 1) : '-'} | ${r.errors} |`),
  ];
  const ratio = (a: string, b: string, f: (r: Row) => number) => {
    const x = byName(a);
    const y = byName(b);
    return x && y ? fmt(f(x) / f(y), 2) : '-';
  };
  lines.push('', 'Ratios (same run):',
    `- petrel 1 hop / nginx 1 hop: req/s ${ratio('petrel 1 hop', 'nginx 1 hop', (r) => r.rps)}, CPU per request ${ratio('petrel 1 hop', 'nginx 1 hop', (r) => r.cpuUsPerReq)}`,
    `- petrel pair / nginx pair: req/s ${ratio('petrel pair', 'nginx pair', (r) => r.rps)}, CPU per request ${ratio('petrel pair', 'nginx pair', (r) => r.cpuUsPerReq)}`,
    `- petrel pair / bare undici pair: req/s ${ratio('petrel pair', 'bare undici pair', (r) => r.rps)}, CPU per request ${ratio('petrel pair', 'bare undici pair', (r) => r.cpuUsPerReq)}`,
    `- petrel pair / direct: req/s ${ratio('petrel pair', 'direct', (r) => r.rps)}`);
  const base = byName('petrel outbound, no policy');
  if (base) {
    lines.push('', 'Policy cost on the outbound sidecar (vs no policy, same run):');
    for (const r of rows.filter((x) => x.name.startsWith('petrel outbound, ') && x !== base)) {
      lines.push(`- ${r.name.slice('petrel outbound, '.length)}: req/s ${fmt(r.rps / base.rps, 3)}, CPU ${fmt(r.cpuUsPerReq - base.cpuUsPerReq, 1)} µs/req more`);
    }
  }
  lines.push('', 'Policy steps measured in-process on the real objects (ns of CPU per request):');
  for (const [name, ns] of policyMicrobench()) lines.push(`- ${name}: ${fmt(ns)} ns`);
  if (!wanted || wanted.some((w) => 'control'.includes(w))) lines.push('', ...(await controlScale()));
  const cpuModel = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim();
  const header = `Run ${new Date().toISOString()} on ${cpuModel}, Node ${process.version}; medians of ${ROUNDS} interleaved rounds of ${SECONDS}s at 64 connections and ${LATENCY_SECONDS}s at 1 connection; proxies pinned to CPU ${PROXY_CPU}, wrk and upstream nginx to CPU ${LOAD_CPU}; peak and private RSS are the largest seen.`;
  const report = [header, '', ...lines].join('\n');
  process.stdout.write(`${report}\n`);
  const outDir = resolve(DIST, '..', '.bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.md'), `${report}\n`);
}

await main();
