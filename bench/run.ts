// `make bench`: Petrel against direct, nginx and a bare undici forwarder, in one run on loopback,
// over HTTP/1.1 (wrk), gRPC unary (bench/grpc-load.ts, grpc-js) and plain HTTP/2 (h2load).
// Proxies are pinned to CPU 0; the load generators and the upstreams (nginx returning a small body
// over HTTP/1.1 and h2c, a grpc-js server returning a small reply) to CPU 1.
// Reports requests (calls)/s at 64 connections (streams), p50/p99 at 1, proxy CPU µs per request
// and peak RSS, with ratios and the targets. Bounded: every load run has a fixed duration.
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { stringify } from 'yaml';
import { policyMicrobench } from './policy-micro.ts';
import { buildsSideBySide, routeSideBySide, type SideBySide } from './route-side-by-side.ts';
import type { RoutingSpec } from '../api/types.ts';
import {
  routeMicrobench, routeMicroTable, routingFor, threeRules, ROUTE_RULE, THREE_RULE_ROUTE, ITERATIONS as ROUTE_ITERATIONS, RUNS as ROUTE_RUNS,
} from './route-micro.ts';
import { controlScale } from './control-scale.ts';
import { h2TransportBench, transportTable } from './h2-transport.ts';
import {
  checkMesh, handshakeBench, waitForConfig, handshakeTable, keepAliveHandshakes, keepAliveTable, readMeshCounters, startMeshPair,
  type MeshContext, type MeshCounters,
} from './mesh-tls.ts';
import {
  anonRssMb, cpuSeconds, freePort, grpcLoad, h2load, peakRssMb, processTree, startPinned, stop, waitForHttp, waitForTcp, wrk,
  type LoadResult,
} from './processes.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 5);
const PROXY_CPU = '0';
const LOAD_CPU = '1';
const DIST = resolve(import.meta.dirname, '..');
const PETREL = join(DIST, 'bin', 'petrel.js');
const BARE_UNDICI = join(DIST, 'bench', 'bare-undici.js');
const GRPC_UPSTREAM = join(DIST, 'bench', 'grpc-upstream.js');
const work = mkdtempSync(join(tmpdir(), 'petrel-bench-'));

/** What the load speaks: HTTP/1.1 GETs (wrk), gRPC unary calls (grpc-load) or plain HTTP/2 GETs (h2load). */
type Protocol = 'http/1.1' | 'grpc' | 'h2';

/** The upstream's port for each protocol: nginx over HTTP/1.1, nginx over h2c, a grpc-js server. */
type Upstreams = Record<Protocol, number>;

interface Scenario {
  name: string;
  protocol: Protocol;
  /** gRPC: channels (connections) the load client spreads its calls over. */
  channels?: number;
  /** Starts the proxies; returns the port and Host (:authority) the load uses, and the proxy processes. */
  start(up: Upstreams): Promise<Started>;
}

interface Started {
  port: number;
  host?: string;
  /** The proxies, whose CPU and memory are measured. */
  procs: ChildProcess[];
  /** A pair on a control plane: what proves the measured run was (or was not) mTLS. */
  mesh?: { tls: boolean; read(): Promise<MeshCounters>; route?: string };
  /** Stops what is not in procs (the control plane), after procs. */
  cleanup?(): Promise<void>;
}

interface Row extends LoadResult {
  name: string; protocol: Protocol; cpuUsPerReq: number; peakRssMb: number; anonRssMb: number; lat: LoadResult;
  /** Why the scenario could not be measured. */
  failed?: string;
  /** A mesh pair: its mTLS counters over the measured run, checked. */
  meshCheck?: string;
  /** Each round's req/s and CPU µs/req, in round order (combine()). */
  perRound?: { rps: number; cpuUsPerReq: number }[];
}

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

/** nginx as an HTTP/2 hop: h2c in (prior knowledge), HTTP/2 out with grpc_pass (gRPC calls and plain HTTP/2 requests alike). */
function nginxH2Proxy(cpus: string, name: string, listen: number, target: number): ChildProcess {
  return startNginx(cpus, name, `  upstream up { server 127.0.0.1:${target}; keepalive 128; }\n` +
    `  server { listen 127.0.0.1:${listen} http2; location / { grpc_pass grpc://up; } }`);
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

const PREFIX: Record<Protocol, string> = { 'http/1.1': '', grpc: 'gRPC ', h2: 'h2load ' };
const PROTOCOL_NAMES: Record<string, Protocol> = { http1: 'http/1.1', grpc: 'grpc', h2: 'h2' };

/** The inbound sidecar in front of the upstream (`--app`): the HTTP/1.1 "1 hop". */
function petrelInboundHop(name: string, protocol: Protocol, env: NodeJS.ProcessEnv, bin = PETREL): Scenario {
  return {
    name, protocol,
    async start(up) {
      const p = await ports();
      const proc = petrelSidecar('upstream', p, [], `127.0.0.1:${up[protocol]}`, env, bin);
      await waitForHttp(`http://127.0.0.1:${p.admin}/ready`);
      return { port: p.inbound, host: 'upstream', procs: [proc] };
    },
  };
}

/** The outbound sidecar straight to the upstream, named as a service in its snapshot: where the policy chain runs. */
function petrelOutboundHop(name: string, protocol: Protocol, policy?: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, routing?: RoutingSpec): Scenario {
  return {
    name, protocol,
    async start(up) {
      const p = await ports();
      const proc = petrelSidecar('client', p, [{ name: 'upstream', namespace: 'default', endpoints: [{ address: `127.0.0.1:${up[protocol]}` }], ...(policy ? { policy } : {}), ...(routing ? { routing } : {}) }], undefined, env);
      await waitForHttp(`http://127.0.0.1:${p.admin}/ready`);
      return { port: p.outbound, host: 'upstream', procs: [proc] };
    },
  };
}

/** Outbound sidecar -> inbound sidecar -> upstream. */
function petrelPair(name: string, protocol: Protocol, env: NodeJS.ProcessEnv, bin = PETREL, channels?: number): Scenario {
  return {
    name, protocol, ...(channels ? { channels } : {}),
    async start(up) {
      const server = await ports();
      const client = await ports();
      const a = petrelSidecar('upstream', server, [], `127.0.0.1:${up[protocol]}`, env, bin);
      const b = petrelSidecar('client', client, [{ name: 'upstream', namespace: 'default', endpoints: [{ address: `127.0.0.1:${server.inbound}` }] }], undefined, env, bin);
      await waitForHttp(`http://127.0.0.1:${server.admin}/ready`);
      await waitForHttp(`http://127.0.0.1:${client.admin}/ready`);
      return { port: client.outbound, host: 'upstream', procs: [b, a] };
    },
  };
}

const meshContext = (): MeshContext => ({ petrel: PETREL, work, proxyCpu: PROXY_CPU, loadCpu: LOAD_CPU });

/**
 * Outbound sidecar -> inbound sidecar -> upstream, both sidecars on a control plane: with identity
 * (certificates from its CA, mTLS between them) or with `--no-identity` (plaintext). Nothing else
 * differs. The measured run is checked against the sidecars' counters (mesh-tls.ts checkMesh).
 */
function petrelMeshPair(name: string, protocol: Protocol, tls: boolean): Scenario {
  return {
    name, protocol,
    async start(up) {
      const pair = await startMeshPair(meshContext(), tls, `127.0.0.1:${up[protocol]}`);
      return {
        port: pair.client.outbound, host: 'upstream', procs: pair.procs,
        mesh: { tls, read: () => readMeshCounters(pair.server.admin, pair.client.admin) },
        cleanup: () => pair.stop(),
      };
    },
  };
}

/**
 * Issue 13: the plaintext pair on a control plane (`--no-identity`), with or without a three-rule
 * HTTPRoute on the called service in the control plane's policy directory. Nothing else differs. The
 * measured run is checked: the outbound sidecar must count the whole load under the catch-all rule's
 * name (route="bench-catch-all"), or under route="default" without the route.
 */
function petrelRoutePair(name: string, routed: boolean): Scenario {
  return {
    name, protocol: 'http/1.1',
    async start(up) {
      const pair = await startMeshPair(meshContext(), false, `127.0.0.1:${up['http/1.1']}`, {}, routed ? { 'upstream-route.yaml': THREE_RULE_ROUTE } : {});
      if (routed) await waitForConfig(pair.client.admin, ROUTE_RULE).catch(async (err: unknown) => { await pair.stop(); throw err; });
      return {
        port: pair.client.outbound, host: 'upstream', procs: pair.procs,
        mesh: { tls: false, route: routed ? ROUTE_RULE : 'default', read: () => readMeshCounters(pair.server.admin, pair.client.admin) },
        cleanup: () => pair.stop(),
      };
    },
  };
}

const routePairs: Scenario[] = [petrelRoutePair('petrel pair route', true), petrelRoutePair('petrel pair no route', false)];

const meshPairs = (protocol: Protocol): Scenario[] => [
  petrelMeshPair(`${PREFIX[protocol]}petrel pair mTLS`, protocol, true),
  petrelMeshPair(`${PREFIX[protocol]}petrel pair plaintext`, protocol, false),
];

function petrelScenarios(label: string, env: NodeJS.ProcessEnv, bin = PETREL): Scenario[] {
  return [petrelInboundHop(`petrel 1 hop${label}`, 'http/1.1', env, bin), petrelPair(`petrel pair${label}`, 'http/1.1', env, bin)];
}

/** gRPC or plain HTTP/2 through Petrel: the outbound hop, the inbound hop and the pair. */
function petrelH2Scenarios(protocol: 'grpc' | 'h2'): Scenario[] {
  const p = PREFIX[protocol];
  return [
    petrelOutboundHop(`${p}petrel 1 hop (outbound)`, protocol),
    petrelInboundHop(`${p}petrel 1 hop (inbound)`, protocol, {}),
    petrelPair(`${p}petrel pair`, protocol, {}),
    ...(protocol === 'grpc' ? [petrelPair(`${p}petrel pair, 4 channels`, protocol, {}, PETREL, 4)] : []),
  ];
}

function directScenario(protocol: Protocol): Scenario {
  return { name: `${PREFIX[protocol]}direct`, protocol, async start(up) { return { port: up[protocol], procs: [] }; } };
}

/** nginx as one hop and as a pair: proxy_pass over HTTP/1.1, or h2c in and grpc_pass out for gRPC and HTTP/2. */
function nginxScenarios(protocol: Protocol): Scenario[] {
  const h1 = protocol === 'http/1.1';
  const proxy = h1 ? nginxProxy : nginxH2Proxy;
  const ready = (port: number) => (h1 ? waitForHttp(`http://127.0.0.1:${port}/`) : waitForTcp(port));
  const p = PREFIX[protocol];
  return [
    {
      name: `${p}nginx 1 hop`, protocol,
      async start(up) {
        const port = await freePort();
        const proc = proxy(PROXY_CPU, `nginx-hop-${port}`, port, up[protocol]);
        await ready(port);
        return { port, procs: [proc] };
      },
    },
    {
      name: `${p}nginx pair`, protocol,
      async start(up) {
        const [a, b] = [await freePort(), await freePort()];
        const inner = proxy(PROXY_CPU, `nginx-in-${b}`, b, up[protocol]);
        const outer = proxy(PROXY_CPU, `nginx-out-${a}`, a, b);
        await ready(b);
        await ready(a);
        return { port: a, procs: [outer, inner] };
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
  return petrelOutboundHop(`petrel outbound, ${label}`, 'http/1.1', policy, env);
}

const policyScenarios: Scenario[] = [
  outboundScenario('no policy', undefined),
  ...Object.entries(POLICIES).map(([name, policy]) => outboundScenario(name, policy)),
  outboundScenario('full policy', FULL_POLICY),
  // Issue 13: the three-rule HTTPRoute of "petrel pair route" in the static snapshot (as the control plane compiles it); the load takes the catch-all.
  petrelOutboundHop('petrel outbound, HTTPRoute (3 rules)', 'http/1.1', undefined, {}, routingFor(threeRules('upstream'), 'upstream')),
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
  directScenario('http/1.1'),
  ...petrelScenarios('', {}),
  ...meshPairs('http/1.1'),
  ...routePairs,
  ...nginxScenarios('http/1.1'),
  {
    name: 'bare undici pair', protocol: 'http/1.1',
    async start(up) {
      const [a, b] = [await freePort(), await freePort()];
      const inner = startPinned(PROXY_CPU, process.execPath, [BARE_UNDICI, String(b), `http://127.0.0.1:${up['http/1.1']}`]);
      const outer = startPinned(PROXY_CPU, process.execPath, [BARE_UNDICI, String(a), `http://127.0.0.1:${b}`]);
      await waitForHttp(`http://127.0.0.1:${a}/`);
      return { port: a, procs: [outer, inner] };
    },
  },
  ...(process.env.BENCH_DEFAULT_V8 === '1' ? petrelScenarios(' (Node default V8 flags)', { PETREL_SIDECAR_NODE_FLAGS: '' }) : []),
  // BENCH_BASELINE=DIR: the same 1 hop and pair from another built checkout (an older commit),
  // interleaved in the same rounds, so a change is compared with its base on one machine at once.
  ...(process.env.BENCH_BASELINE ? petrelScenarios(' (baseline)', {}, join(resolve(process.env.BENCH_BASELINE), 'dist', 'bin', 'petrel.js')) : []),
  ...policyScenarios,
  directScenario('grpc'),
  ...petrelH2Scenarios('grpc'),
  ...meshPairs('grpc'),
  ...nginxScenarios('grpc'),
  directScenario('h2'),
  ...petrelH2Scenarios('h2'),
  ...nginxScenarios('h2'),
];

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const NO_LATENCY: LoadResult = { requests: 0, seconds: 0, rps: 0, p50ms: Number.NaN, p99ms: Number.NaN, errors: 0 };

/** The load generator for a scenario's protocol, as (concurrency, seconds) -> result. */
function loader(scenario: Scenario, port: number, host: string | undefined): (concurrency: number, seconds: number) => Promise<LoadResult> {
  const url = `http://127.0.0.1:${port}/`;
  switch (scenario.protocol) {
    case 'grpc': return (c, s) => grpcLoad(LOAD_CPU, `127.0.0.1:${port}`, c, s, host, scenario.channels);
    case 'h2': return (c, s) => h2load(LOAD_CPU, url, c, s, host);
    default: return async (c, s) => wrk(LOAD_CPU, url, c, s, host ? [`Host: ${host}`] : []);
  }
}

async function measure(scenario: Scenario, up: Upstreams): Promise<Row> {
  const { port, host, procs, mesh, cleanup } = await scenario.start(up);
  const load = loader(scenario, port, host);
  try {
    await load(64, 2); // warm-up: JIT, pools, keep-alive
    const pids = procs.flatMap((p) => processTree(p.pid as number));
    const meshBefore = await mesh?.read();
    const cpuBefore = pids.length ? cpuSeconds(pids) : 0;
    const result = await load(64, SECONDS);
    const cpu = pids.length ? cpuSeconds(pids) - cpuBefore : 0;
    // A pair that did not speak what its name says measured the wrong thing: it fails.
    const meshCheck = mesh && meshBefore ? checkMesh(mesh.tls, meshBefore, await mesh.read(), result.requests, mesh.route) : undefined;
    const anon = pids.length ? anonRssMb(pids) : 0;
    const peak = pids.length ? peakRssMb(pids) : 0; // at 64 connections (streams): the 1-connection run below adds little
    // h2load reports no percentiles: HTTP/2 latency is left to the gRPC scenarios.
    const lat = scenario.protocol === 'h2' ? NO_LATENCY : await load(1, LATENCY_SECONDS);
    return {
      name: scenario.name, protocol: scenario.protocol, ...result, lat, cpuUsPerReq: pids.length ? (cpu * 1e6) / result.requests : 0,
      peakRssMb: peak, anonRssMb: anon, ...(meshCheck ? { meshCheck } : {}),
    };
  } finally {
    await Promise.all(procs.map(stop));
    await cleanup?.();
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
    perRound: runs.map((r) => ({ rps: r.rps, cpuUsPerReq: r.cpuUsPerReq })),
  };
}

/** A scenario that could not be measured (a proxy that did not start, a load run that threw): reported, not fatal. */
function failedRow(scenario: Scenario, err: unknown): Row {
  const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]?.slice(0, 160) ?? '';
  return {
    name: scenario.name, protocol: scenario.protocol, ...NO_LATENCY, rps: Number.NaN, errors: Number.NaN, lat: NO_LATENCY,
    cpuUsPerReq: Number.NaN, peakRssMb: Number.NaN, anonRssMb: Number.NaN, failed: message,
  };
}

/** Starts the upstreams the selected scenarios need, on the load CPU. */
async function startUpstreams(protocols: Set<Protocol>): Promise<{ up: Upstreams; procs: ChildProcess[] }> {
  const up: Upstreams = { 'http/1.1': await freePort(), h2: await freePort(), grpc: await freePort() };
  const procs = [startNginx(LOAD_CPU, 'upstream', `  server { listen 127.0.0.1:${up['http/1.1']}; location / { return 200 "ok\\n"; } }\n` +
    `  server { listen 127.0.0.1:${up.h2} http2; location / { return 200 "ok\\n"; } }`)];
  if (protocols.has('grpc')) procs.push(startPinned(LOAD_CPU, process.execPath, [GRPC_UPSTREAM, String(up.grpc)]));
  await waitForHttp(`http://127.0.0.1:${up['http/1.1']}/`);
  await waitForTcp(up.h2);
  if (protocols.has('grpc')) await waitForTcp(up.grpc);
  return { up, procs };
}

const cell = (n: number, digits = 1) => (n ? fmt(n, digits) : '-');

function table(rows: Row[], protocol: Protocol): string[] {
  const mine = rows.filter((r) => r.protocol === protocol);
  if (mine.length === 0) return [];
  const direct = mine.find((r) => r.name === `${PREFIX[protocol]}direct`);
  const vs = (r: Row) => (direct ? fmt(r.rps / direct.rps, 2) : '-');
  const failed = (r: Row, columns: number) => `| ${r.name} | not measured: ${r.failed?.replaceAll('|', '/')} |${' |'.repeat(columns - 2)}`;
  switch (protocol) {
    case 'grpc':
      return ['gRPC unary (bench/grpc-load.ts, grpc-js; one channel unless the name says otherwise; upstream a grpc-js server):', '',
        `| scenario | calls/s @64 streams | vs direct | p50 @1 (ms) | p99 @1 (ms) | proxy CPU µs/call | peak RSS per process @64 (MB) | private RSS under load (MB) | failures |`,
        `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
        ...mine.map((r) => (r.failed ? failed(r, 9) : `| ${r.name} | ${fmt(r.rps)} | ${vs(r)} | ${fmt(r.lat.p50ms, 3)} | ${fmt(r.lat.p99ms, 3)} | ` +
          `${cell(r.cpuUsPerReq)} | ${cell(r.peakRssMb)} | ${cell(r.anonRssMb)} | ${r.errors} |`))];
    case 'h2':
      return ['Plain HTTP/2 GETs (h2load, 4 connections x 16 streams; upstream nginx over h2c):', '',
        `| scenario | req/s @64 streams | vs direct | proxy CPU µs/req | peak RSS per process @64 (MB) | private RSS under load (MB) | failures |`,
        `|---|---:|---:|---:|---:|---:|---:|`,
        ...mine.map((r) => (r.failed ? failed(r, 7) : `| ${r.name} | ${fmt(r.rps)} | ${vs(r)} | ${cell(r.cpuUsPerReq)} | ${cell(r.peakRssMb)} | ${cell(r.anonRssMb)} | ${r.errors} |`))];
    default:
      return ['HTTP/1.1 (wrk):', '',
        `| scenario | req/s @64 | vs direct | p50 @1 (ms) | p99 @1 (ms) | proxy CPU µs/req | peak RSS per process (MB) | private RSS under load (MB) | errors |`,
        `|---|---:|---:|---:|---:|---:|---:|---:|---:|`,
        ...mine.map((r) => (r.failed ? failed(r, 9) : `| ${r.name} | ${fmt(r.rps)} | ${vs(r)} | ${fmt(r.lat.p50ms, 3)} | ${fmt(r.lat.p99ms, 3)} | ` +
          `${cell(r.cpuUsPerReq)} | ${cell(r.peakRssMb)} | ${cell(r.anonRssMb)} | ${r.errors} |`))];
  }
}

/** Issue 11's targets, each with what this run measured; "not measured" when its scenarios were not selected. */
function targets(rows: Row[]): string[] {
  const byName = (n: string) => rows.find((r) => r.name === n);
  const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'pass' : 'FAIL');
  const lines = ['| target | measured | result |', '|---|---|---|'];
  const pair = byName('gRPC petrel pair');
  lines.push(`| gRPC unary pair ≤ 130 µs CPU per call, both sidecars together | ${pair ? (pair.failed ? 'not measured' : `${fmt(pair.cpuUsPerReq, 1)} µs`) : '-'} | ${verdict(pair && pair.cpuUsPerReq <= 130)} |`);
  const h2 = rows.filter((r) => r.protocol === 'h2' && r.name.includes('petrel'));
  lines.push(`| zero failures under h2load through Petrel | ${h2.map((r) => `${r.name.slice(PREFIX.h2.length)}: ${r.failed ? 'not measured' : r.errors}`).join('; ') || '-'} | ` +
    `${verdict(h2.length ? h2.every((r) => !r.failed && r.errors === 0) : undefined)} |`);
  const sidecars = rows.filter((r) => r.protocol !== 'http/1.1' && r.name.includes('petrel') && !r.failed);
  const worst = sidecars.reduce<Row | undefined>((w, r) => (!w || r.peakRssMb > w.peakRssMb ? r : w), undefined);
  lines.push(`| ≤ 128 MB RSS per sidecar at 64 streams (peak VmHWM, gRPC and h2load) | ${worst ? `${fmt(worst.peakRssMb, 1)} MB (${worst.name})` : '-'} | ` +
    `${verdict(sidecars.length ? sidecars.every((r) => r.peakRssMb <= 128) : undefined)} |`);
  // Issue 12: what mTLS between the sidecars costs, against the same pair on a control plane without identity.
  for (const [p, unit] of [['', 'request'], ['gRPC ', 'call']] as const) {
    const mtls = byName(`${p}petrel pair mTLS`);
    const plain = byName(`${p}petrel pair plaintext`);
    const both = mtls && plain && !mtls.failed && !plain.failed ? [mtls, plain] as const : undefined;
    const cpu = both ? both[0].cpuUsPerReq / both[1].cpuUsPerReq : Number.NaN;
    const rps = both ? both[0].rps / both[1].rps : Number.NaN;
    const label = p === '' ? 'HTTP/1.1' : 'gRPC';
    lines.push(`| ${label} mTLS pair ≤ 1.3x the CPU per ${unit} of the plaintext pair | ` +
      `${both ? `${fmt(cpu, 2)}x (${fmt(both[0].cpuUsPerReq, 1)} / ${fmt(both[1].cpuUsPerReq, 1)} µs)` : 'not measured'} | ${verdict(both ? cpu <= 1.3 : undefined)} |`);
    lines.push(`| ${label} mTLS pair ≥ 0.75x the ${unit}s/s of the plaintext pair | ` +
      `${both ? `${fmt(rps, 2)}x (${fmt(both[0].rps)} / ${fmt(both[1].rps)})` : 'not measured'} | ${verdict(both ? rps >= 0.75 : undefined)} |`);
  }
  // Issue 13: a three-rule HTTPRoute in force against no route, the same plaintext pair on a control plane.
  {
    const routed = byName('petrel pair route');
    const plain = byName('petrel pair no route');
    const both = routed && plain && !routed.failed && !plain.failed;
    // Run one after the other, two pairs meet different moments of a shared machine: informative only.
    // The target is judged with both pairs under load at once ("route side by side", below the tables).
    lines.push(`| HTTP/1.1 pair with a three-rule HTTPRoute against the pair without, run in turn (informative: the ≥ 0.95x target is judged side by side) | ` +
      `${both ? `${fmt(routed.rps / plain.rps, 3)}x (${fmt(routed.rps)} / ${fmt(plain.rps)}); CPU ${fmt(routed.cpuUsPerReq / plain.cpuUsPerReq, 3)}x ` +
        `(${fmt(routed.cpuUsPerReq, 1)} / ${fmt(plain.cpuUsPerReq, 1)} µs); each round (interleaved, so a pair of runs minutes apart at most): ` +
        `${(routed.perRound ?? []).map((r, i) => { const p = plain.perRound?.[i]; return p ? `${fmt(r.rps / p.rps, 2)}x req/s, ${fmt(r.cpuUsPerReq / p.cpuUsPerReq, 2)}x CPU` : '-'; }).join('; ')}` : 'not measured'} | ` +
      `${both ? 'see side by side' : 'not measured'} |`);
  }
  // "No worse" within this VM's run-to-run noise: at least 0.9 of the base's req/s, at most 1.1 of its CPU per request.
  for (const name of ['petrel 1 hop', 'petrel pair']) {
    const now = byName(name);
    const before = byName(`${name} (baseline)`);
    const rps = now && before ? now.rps / before.rps : Number.NaN;
    const cpu = now && before ? now.cpuUsPerReq / before.cpuUsPerReq : Number.NaN;
    lines.push(`| HTTP/1.1 ${name} no worse than before (≥ 0.9x req/s, ≤ 1.1x CPU of BENCH_BASELINE) | ` +
      `${now && before ? `req/s ${fmt(rps, 2)}x, CPU ${fmt(cpu, 2)}x` : 'needs BENCH_BASELINE=DIR and this scenario'} | ${verdict(now && before ? rps >= 0.9 && cpu <= 1.1 : undefined)} |`);
  }
  return lines;
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY;
  const sink = await startOtlpSink();
  otlpSink = sink.url;
  // BENCH_ONLY: comma-separated substrings of scenario names ("=name" for that name exactly). BENCH_PROTOCOLS: comma-separated http1, grpc, h2.
  const wanted = only?.split(',').map((w) => w.trim()).filter((w) => w !== '');
  const protocols = process.env.BENCH_PROTOCOLS?.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const unknown = protocols?.filter((p) => !(p in PROTOCOL_NAMES));
  if (unknown?.length) throw new Error(`BENCH_PROTOCOLS: unknown ${unknown.join(', ')} (expected ${Object.keys(PROTOCOL_NAMES).join(', ')})`);
  const selected = scenarios.filter((s) => (!wanted || wanted.some((w) => (w.startsWith('=') ? s.name === w.slice(1) : s.name.includes(w)))) &&
    (!protocols || protocols.some((p) => PROTOCOL_NAMES[p] === s.protocol)));
  const { up, procs: upstreams } = await startUpstreams(new Set(selected.map((s) => s.protocol)));
  const runs = new Map<string, Row[]>(selected.map((s) => [s.name, []]));
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      // Odd rounds in the listed order, even rounds reversed: no scenario always runs first, or always
      // right after the same neighbour (a pair of scenarios compared in one run otherwise carries a fixed position).
      for (const scenario of round % 2 === 1 ? selected : [...selected].reverse()) {
        const done = runs.get(scenario.name) as Row[];
        if (done.some((r) => r.failed)) continue;
        process.stderr.write(`bench: round ${round}/${ROUNDS}: ${scenario.name}...\n`);
        done.push(await measure(scenario, up).catch((err: unknown) => {
          process.stderr.write(`bench: ${scenario.name}: ${err instanceof Error ? err.message : String(err)}\n`);
          return failedRow(scenario, err);
        }));
      }
    }
  } finally {
    await Promise.all(upstreams.map(stop));
    sink.close();
  }
  const rows = selected.map((s) => {
    const done = runs.get(s.name) as Row[];
    return done.find((r) => r.failed) ?? combine(done);
  });
  const byName = (n: string) => rows.find((r) => r.name === n && !r.failed);
  const lines: string[] = [];
  for (const protocol of ['http/1.1', 'grpc', 'h2'] as const) {
    const t = table(rows, protocol);
    if (t.length) lines.push(...(lines.length ? [''] : []), ...t);
  }
  const ratio = (a: string, b: string, f: (r: Row) => number) => {
    const x = byName(a);
    const y = byName(b);
    return x && y ? fmt(f(x) / f(y), 2) : '-';
  };
  const ratios: [string, string, string][] = [
    ['petrel 1 hop', 'nginx 1 hop', 'req/s'], ['petrel pair', 'nginx pair', 'req/s'], ['petrel pair', 'bare undici pair', 'req/s'],
    ['gRPC petrel 1 hop (outbound)', 'gRPC nginx 1 hop', 'calls/s'], ['gRPC petrel pair', 'gRPC nginx pair', 'calls/s'],
    ['h2load petrel 1 hop (outbound)', 'h2load nginx 1 hop', 'req/s'], ['h2load petrel pair', 'h2load nginx pair', 'req/s'],
  ];
  const ratioLines = ratios.filter(([a, b]) => byName(a) && byName(b)).map(([a, b, unit]) =>
    `- ${a} / ${b}: ${unit} ${ratio(a, b, (r) => r.rps)}, CPU per ${unit === 'calls/s' ? 'call' : 'request'} ${ratio(a, b, (r) => r.cpuUsPerReq)}`);
  if (byName('petrel pair') && byName('direct')) ratioLines.push(`- petrel pair / direct: req/s ${ratio('petrel pair', 'direct', (r) => r.rps)}`);
  if (byName('gRPC petrel pair') && byName('petrel pair')) {
    ratioLines.push(`- gRPC petrel pair CPU per call / HTTP/1.1 petrel pair CPU per request: ${ratio('gRPC petrel pair', 'petrel pair', (r) => r.cpuUsPerReq)}`);
  }
  if (ratioLines.length) lines.push('', 'Ratios (same run):', ...ratioLines);
  const base = byName('petrel outbound, no policy');
  if (base) {
    lines.push('', 'Policy cost on the outbound sidecar (vs no policy, same run):');
    for (const r of rows.filter((x) => x.name.startsWith('petrel outbound, ') && x !== base && !x.failed)) {
      lines.push(`- ${r.name.slice('petrel outbound, '.length)}: req/s ${fmt(r.rps / base.rps, 3)}, CPU ${fmt(r.cpuUsPerReq - base.cpuUsPerReq, 1)} µs/req more`);
    }
  }
  const checked = rows.filter((r) => r.meshCheck || (r.failed && r.name.includes('pair mTLS')) || (r.failed && r.name.includes('pair plaintext')) || (r.failed && r.name.includes('route')));
  if (checked.length) {
    lines.push('', 'What the mesh pairs really spoke (the sidecars\' counters; first round\'s measured run):');
    for (const r of checked) lines.push(`- ${r.name}: ${r.failed ? `FAILED: ${r.failed}` : r.meshCheck}`);
  }
  lines.push('', 'Targets (HTTP/2 and gRPC; mTLS; HTTPRoute):', '', ...targets(rows));
  lines.push('', 'Policy steps measured in-process on the real objects (ns of CPU per request):');
  for (const [name, ns] of policyMicrobench()) lines.push(`- ${name}: ${fmt(ns)} ns`);
  // Issue 13: HTTPRoute matching per request, 50 rules against 3 and none (BENCH_ONLY='route matching', or 'route').
  if (wanted ? wanted.some((w) => 'route matching'.includes(w)) : !protocols) {
    lines.push('', 'HTTPRoute matching measured in-process (bench/route-micro.ts: the control plane\'s RoutingSpec, the sidecar\'s compileMatches and firstMatch; ' +
      `ns of CPU per request, median of ${ROUTE_RUNS} runs of ${ROUTE_ITERATIONS} requests each):`, '', routeMicroTable(routeMicrobench()));
  }
  // Issue 13's figure: the route pair against the no-route pair under load at the same time (BENCH_ONLY='side by side').
  if (wanted ? wanted.some((w) => 'route side by side'.includes(w)) : !protocols || protocols.includes('http1')) {
    const { up: sbsUp, procs: sbsUpstreams } = await startUpstreams(new Set(['http/1.1']));
    try {
      const calibrate = process.env.BENCH_CALIBRATE === '1';
      const runs: [string, SideBySide][] = [];
      for (const mode of calibrate ? [undefined, 'nn' as const] : [undefined]) {
        process.stderr.write(`bench: route side by side${mode ? ' (calibration: two pairs without route)' : ''}...\n`);
        runs.push([mode ? 'no route / no route (calibration)' : 'route / no route',
          await routeSideBySide(meshContext(), `127.0.0.1:${sbsUp['http/1.1']}`, SECONDS, ROUNDS, mode, (line) => process.stderr.write(`bench:   ${line}\n`))]);
      }
      lines.push('', `The HTTP/1.1 pair with a three-rule HTTPRoute and the pair without, under load at the same time (bench/route-side-by-side.ts: ` +
        `both share the proxy CPU and the load CPU, 64 connections each; ${ROUNDS} rounds of ${SECONDS} s with fresh pairs, alternating which starts first; ` +
        'ratios are first / second, medians of the rounds):', '', '| pairs | req/s ratio | CPU per request ratio | rounds (req/s ratio) | errors |', '|---|---:|---:|---|---:|');
      for (const [name, r] of runs) {
        lines.push(`| ${name} | ${fmt(r.rpsRatio, 3)}x | ${fmt(r.cpuRatio, 3)}x | ${r.rounds.map((x) => fmt(x.rps[0] / x.rps[1], 3)).join(', ')} | ` +
          `${r.rounds.reduce((n, x) => n + x.errors[0] + x.errors[1], 0)} |`);
      }
      // BENCH_BASELINE=DIR: this build's pair against the older build's, side by side, neither routed.
      if (process.env.BENCH_BASELINE) {
        process.stderr.write('bench: this build against BENCH_BASELINE, side by side...\n');
        const baseline = { ...meshContext(), petrel: join(resolve(process.env.BENCH_BASELINE), 'dist', 'bin', 'petrel.js') };
        const r = await buildsSideBySide(meshContext(), baseline, `127.0.0.1:${sbsUp['http/1.1']}`, SECONDS, ROUNDS, (line) => process.stderr.write(`bench:   ${line}\n`));
        lines.push(`| this build / BENCH_BASELINE (${process.env.BENCH_BASELINE}), no route | ${fmt(r.rpsRatio, 3)}x | ${fmt(r.cpuRatio, 3)}x | ` +
          `${r.rounds.map((x) => fmt(x.rps[0] / x.rps[1], 3)).join(', ')} | ${r.rounds.reduce((n, x) => n + x.errors[0] + x.errors[1], 0)} |`);
      }
      const main = runs[0]![1];
      lines.push('', `Target (issue 13): pair throughput with a three-rule route in force ≥ 0.95x the pair without, in one run: ${fmt(main.rpsRatio, 3)}x, ` +
        `${main.rpsRatio >= 0.95 ? 'pass' : 'FAIL'} (CPU per request ${fmt(main.cpuRatio, 3)}x).`);
    } finally {
      await Promise.all(sbsUpstreams.map(stop));
    }
  }
  // HTTP/1.1 between sidecars over HTTP/1.1 or over HTTP/2 (Linkerd's choice): bare forwarders, measured.
  if (wanted ? wanted.some((w) => 'transport'.includes(w)) : !protocols || protocols.includes('h2')) {
    lines.push('', 'HTTP/1.1 requests between two bare forwarders, the middle hop over HTTP/1.1 or HTTP/2 (bench/h2-transport.ts; medians of 3):', '',
      transportTable(await h2TransportBench(SECONDS)));
  }
  // Issue 12: handshakes per second of one inbound sidecar, and the handshakes a keep-alive run costs.
  if (wanted ? wanted.some((w) => 'mtls handshakes'.includes(w)) : !protocols || protocols.includes('http1')) {
    const seconds = Number(process.env.BENCH_HANDSHAKE_SECONDS ?? SECONDS);
    const count = Number(process.env.BENCH_HANDSHAKE_COUNT ?? 100_000);
    const inFlight = Number(process.env.BENCH_HANDSHAKE_CONCURRENCY ?? 16);
    const { up: hsUp, procs: hsUpstreams } = await startUpstreams(new Set(['http/1.1']));
    try {
      process.stderr.write('bench: mtls handshakes per second...\n');
      const hs = await handshakeBench(meshContext(), `127.0.0.1:${hsUp['http/1.1']}`, seconds, count, inFlight);
      lines.push('', `mTLS handshakes per second of one inbound sidecar (bench/handshake-load.ts on CPU ${LOAD_CPU}: new TLS 1.3 connections with a ` +
        `certificate the control plane issued, ${inFlight} in flight, at most ${count} or ${seconds} s; each ended by the client at once and counted when the sidecar closes it):`, '', handshakeTable(hs));
      const keepSeconds = Number(process.env.BENCH_KEEPALIVE_SECONDS ?? 10);
      const counts = (process.env.BENCH_KEEPALIVE_CONNECTIONS ?? '1,16,64,256').split(',').map(Number);
      process.stderr.write('bench: mtls handshakes in keep-alive runs...\n');
      const ka = await keepAliveHandshakes(meshContext(), `127.0.0.1:${hsUp['http/1.1']}`, keepSeconds, counts);
      lines.push('', `Handshakes during a ${keepSeconds} s keep-alive wrk run through a fresh mTLS pair (no warm-up; both sidecars' petrel_tls_handshakes_total before and after):`,
        '', keepAliveTable(ka, keepSeconds));
    } finally {
      await Promise.all(hsUpstreams.map(stop));
    }
  }
  // The control plane's scale test is no protocol: BENCH_PROTOCOLS alone leaves it out.
  if (wanted ? wanted.some((w) => 'control'.includes(w)) : !protocols) lines.push('', ...(await controlScale()));
  const cpuModel = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim();
  const header = `Run ${new Date().toISOString()} on ${cpuModel}, Node ${process.version}; medians of ${ROUNDS} interleaved rounds of ${SECONDS}s ` +
    `at 64 connections (streams) and ${LATENCY_SECONDS}s at 1; proxies pinned to CPU ${PROXY_CPU}, the load generators (wrk, grpc-load, h2load) ` +
    `and the upstreams (nginx, grpc-js) to CPU ${LOAD_CPU}; peak and private RSS are the largest seen.`;
  const report = [header, '', ...lines].join('\n');
  process.stdout.write(`${report}\n`);
  const outDir = resolve(DIST, '..', '.bench');
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'latest.md'), `${report}\n`);
}

await main();
