// Mesh mTLS in the benchmark (issue 12): a control plane (the CA, or `--no-identity` for plaintext)
// and sidecars that take their snapshots and certificates from it; the counters that prove a pair
// really spoke mTLS (or really did not); the handshake rate of one inbound sidecar, driven by
// bench/handshake-load.ts from another process with a certificate the control plane issued; and the
// handshakes a keep-alive run through the pair costs against its connections.
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requestCertificate } from '../sidecar/identity/certificate-request.ts';
import { cpuSeconds, freePort, processTree, startPinned, stop, waitForHttp, wrkAsync } from './processes.ts';
import type { HandshakeLoadResult } from './handshake-load.ts';

const execFileAsync = promisify(execFile);

export interface MeshContext {
  /** dist/bin/petrel.js */
  petrel: string;
  /** A scratch directory. */
  work: string;
  proxyCpu: string;
  loadCpu: string;
}

export interface ControlPlane { proc: ChildProcess; streamUrl: string; apiUrl: string }

/** `petrel control` on the load CPU (it is idle under load and not counted), with a policy directory holding `policyFiles` (none: empty). */
export async function startControlPlane(ctx: MeshContext, identity: boolean, policyFiles: Record<string, string> = {}): Promise<ControlPlane> {
  const [stream, api] = [await freePort(), await freePort()];
  const policies = join(ctx.work, `control-${stream}`, 'policies');
  mkdirSync(policies, { recursive: true });
  for (const [file, text] of Object.entries(policyFiles)) writeFileSync(join(policies, file), text);
  const proc = startPinned(ctx.loadCpu, process.execPath, [ctx.petrel, 'control', '--policies', policies,
    '--stream-port', String(stream), '--api-port', String(api), '--startup-grace', '0s', '--log-level', 'warn',
    ...(identity ? [] : ['--no-identity'])]);
  const apiUrl = `http://127.0.0.1:${api}`;
  await waitForHttp(`${apiUrl}/ready`);
  return { proc, streamUrl: `http://127.0.0.1:${stream}`, apiUrl };
}

export interface SidecarPorts { inbound: number; outbound: number; admin: number }

/** A sidecar on the proxy CPU that takes its snapshot (and, with identity, its certificate) from the control plane. */
export function controlledSidecar(ctx: MeshContext, service: string, ports: SidecarPorts, control: ControlPlane, app?: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  return startPinned(ctx.proxyCpu, process.execPath, [
    ctx.petrel, 'sidecar', '--service', service, '--control', control.streamUrl, '--log-level', 'warn', '--drain-delay', '0s',
    '--inbound-host', '127.0.0.1', '--inbound-port', String(ports.inbound), '--outbound-port', String(ports.outbound),
    '--admin-host', '127.0.0.1', '--admin-port', String(ports.admin), ...(app ? ['--app', app] : []),
  ], { ...process.env, ...env });
}

/** GET on a fresh connection: a kept-alive one may be closed by the admin server during a 10 s run (socket hang up). */
async function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    }).on('error', reject).end();
  });
}

/** The sum of the samples of `name` whose labels include all of `labels` (Prometheus text format). */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const close = line.lastIndexOf('}');
    const labelText = close > 0 ? line.slice(name.length + 1, close) : '';
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(close > 0 ? close + 1 : name.length).trim().split(' ')[0]);
  }
  return sum;
}

/** What proves a pair spoke mTLS: handshakes on both sides and the inbound requests by their tls label. */
export interface MeshCounters {
  inboundHandshakes: number;
  outboundHandshakes: number;
  handshakeErrors: number;
  inboundTls: number;
  inboundPlain: number;
  /** The outbound sidecar's petrel_requests_total{direction="outbound"} by `route` label (issue 13: which rule took the load). */
  outboundByRoute: Record<string, number>;
}

/** The samples of `name` summed by the value of `label`, among those whose labels include all of `labels`. */
export function metricByLabel(text: string, name: string, label: string, labels: Record<string, string> = {}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    if (!Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) continue;
    const value = new RegExp(`(?:^|,)${label}="([^"]*)"`).exec(labelText)?.[1];
    if (value === undefined) continue;
    out[value] = (out[value] ?? 0) + Number(line.slice(close + 1).trim().split(' ')[0]);
  }
  return out;
}

export async function readMeshCounters(inboundAdmin: number, outboundAdmin: number): Promise<MeshCounters> {
  const [inbound, outbound] = await Promise.all([getText(`http://127.0.0.1:${inboundAdmin}/metrics`), getText(`http://127.0.0.1:${outboundAdmin}/metrics`)]);
  return {
    inboundHandshakes: metricSum(inbound, 'petrel_tls_handshakes_total', { direction: 'inbound' }),
    outboundHandshakes: metricSum(outbound, 'petrel_tls_handshakes_total', { direction: 'outbound' }),
    handshakeErrors: metricSum(inbound, 'petrel_tls_handshake_errors_total') + metricSum(outbound, 'petrel_tls_handshake_errors_total'),
    inboundTls: metricSum(inbound, 'petrel_requests_total', { direction: 'inbound', tls: 'true' }),
    inboundPlain: metricSum(inbound, 'petrel_requests_total', { direction: 'inbound', tls: 'false' }),
    outboundByRoute: metricByLabel(outbound, 'petrel_requests_total', 'route', { direction: 'outbound' }),
  };
}

/**
 * Throws unless the measured run went the way the scenario says: with mTLS, handshakes on the inbound
 * sidecar, no handshake errors, and at least every request the load generator counted served inbound
 * with tls="true" and none with tls="false"; in plaintext, no handshake at all and the load served
 * with tls="false". `requests` are the load generator's completed requests of the measured run
 * (the sidecars count a few more: the ones in flight when it stopped).
 */
export function checkMesh(tls: boolean, before: MeshCounters, after: MeshCounters, requests: number, route?: string): string {
  const d = (k: Exclude<keyof MeshCounters, 'outboundByRoute'>) => after[k] - before[k];
  // Issue 13: the outbound sidecar's requests in the run by route label; the load must all be under `route`.
  const byRoute = Object.entries(after.outboundByRoute).map(([r, n]) => [r, n - (before.outboundByRoute[r] ?? 0)] as const).filter(([, n]) => n > 0);
  const routes = route === undefined ? '' : `; outbound requests in the run by route ${byRoute.map(([r, n]) => `${r}=${n}`).join(', ') || 'none'} (expected route="${route}")`;
  const summary = `inbound handshakes ${after.inboundHandshakes} (+${d('inboundHandshakes')} in the run), outbound ${after.outboundHandshakes}, ` +
    `handshake errors ${after.handshakeErrors}; inbound requests in the run tls="true" ${d('inboundTls')}, tls="false" ${d('inboundPlain')}; load counted ${requests}${routes}`;
  const wrong = (why: string) => new Error(`not what the scenario claims (${why}): ${summary}`);
  if (requests <= 0) throw wrong('no request completed');
  if (route !== undefined) {
    const mine = byRoute.find(([r]) => r === route)?.[1] ?? 0;
    if (mine < requests) throw wrong(`fewer outbound requests with route="${route}" than the load completed`);
    if (byRoute.some(([r]) => r !== route)) throw wrong(`outbound requests under another route than "${route}"`);
  }
  if (tls) {
    if (after.inboundHandshakes <= 0) throw wrong('no inbound mTLS handshake');
    if (after.outboundHandshakes <= 0) throw wrong('no outbound mTLS handshake');
    if (after.handshakeErrors > 0) throw wrong('handshake errors');
    if (d('inboundTls') < requests) throw wrong('fewer tls="true" inbound requests than the load completed');
    if (d('inboundPlain') > 0) throw wrong('plaintext inbound requests');
  } else {
    if (after.inboundHandshakes > 0 || after.outboundHandshakes > 0) throw wrong('TLS handshakes in a plaintext pair');
    if (d('inboundPlain') < requests) throw wrong('fewer tls="false" inbound requests than the load completed');
    if (d('inboundTls') > 0) throw wrong('tls="true" inbound requests');
  }
  return summary;
}

/** Waits until the sidecar's /ready details say mTLS is on (or, plaintext, that it is ready and off). */
export async function waitForMtls(admin: number, tls: boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = await getText(`http://127.0.0.1:${admin}/ready?details=1`).catch((err: Error) => err.message);
    try {
      const d = JSON.parse(last) as { ready?: boolean; mtls?: string };
      if (d.ready === true && (d.mtls === 'on') === tls) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sidecar admin :${admin} not ready with mtls ${tls ? 'on' : 'off'} within ${timeoutMs} ms: ${last.slice(0, 200)}`);
}

/** Waits until the calling sidecar's snapshot lists `address` (the control plane pushed the endpoint). */
export async function waitForEndpoint(admin: number, address: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getText(`http://127.0.0.1:${admin}/config_dump`).catch(() => '')).includes(address)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the control plane did not push endpoint ${address} to sidecar admin :${admin} within ${timeoutMs} ms`);
}

/** Waits until the sidecar's /config_dump mentions `needle` (a rule name: the control plane pushed the route). */
export async function waitForConfig(admin: number, needle: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await getText(`http://127.0.0.1:${admin}/config_dump`).catch(() => '')).includes(needle)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sidecar admin :${admin}: /config_dump does not mention ${needle} after ${timeoutMs} ms`);
}

const ports = async (): Promise<SidecarPorts> => ({ inbound: await freePort(), outbound: await freePort(), admin: await freePort() });

export interface MeshPair {
  control: ControlPlane;
  server: SidecarPorts;
  client: SidecarPorts;
  /** outbound (client) sidecar, inbound (server) sidecar */
  procs: [ChildProcess, ChildProcess];
  stop(): Promise<void>;
}

/** Control plane, inbound sidecar "upstream" in front of `app`, outbound sidecar "client"; ready and routed. */
export async function startMeshPair(ctx: MeshContext, tls: boolean, app: string, env: NodeJS.ProcessEnv = {}, policyFiles: Record<string, string> = {}): Promise<MeshPair> {
  const control = await startControlPlane(ctx, tls, policyFiles);
  const server = await ports();
  const client = await ports();
  const a = controlledSidecar(ctx, 'upstream', server, control, app, env);
  const b = controlledSidecar(ctx, 'client', client, control, undefined, env);
  const pair: MeshPair = {
    control, server, client, procs: [b, a],
    stop: async () => { await Promise.all([stop(b), stop(a)]); await stop(control.proc); },
  };
  try {
    await waitForMtls(server.admin, tls);
    await waitForMtls(client.admin, tls);
    await waitForEndpoint(client.admin, `127.0.0.1:${server.inbound}`);
  } catch (err) {
    await pair.stop();
    throw err;
  }
  return pair;
}

export interface HandshakeRow {
  mode: 'full' | 'resumed';
  concurrency: number;
  handshakes: number;
  failures: number;
  seconds: number;
  perSecond: number;
  /** The inbound sidecar's CPU over the run, per handshake its metrics counted. */
  cpuUsPerHandshake: number;
  /** The sidecar's CPU seconds over wall seconds: 1.0 is one CPU saturated. */
  sidecarBusy: number;
  sidecarCounted: number;
  sidecarErrors: number;
}

const HANDSHAKE_LOAD = join(import.meta.dirname, 'handshake-load.js');

/**
 * New mTLS connections to one inbound sidecar as fast as one client process (on the load CPU) makes
 * them, bounded by `count` and `seconds`: full handshakes (no session reuse: the sidecar verifies our
 * certificate chain and signs with its key every time) and resumed ones (a TLS 1.3 session ticket,
 * as the sidecars' own pools reconnect). The client's certificate comes from the control plane's POST
 * /v1/certificate like a sidecar's. The sidecar's handshake counter must agree with the client's count.
 */
export async function handshakeBench(ctx: MeshContext, app: string, seconds: number, count: number, concurrency: number, env: NodeJS.ProcessEnv = {}): Promise<HandshakeRow[]> {
  const control = await startControlPlane(ctx, true);
  const server = await ports();
  const proc = controlledSidecar(ctx, 'upstream', server, control, app, env);
  const rows: HandshakeRow[] = [];
  try {
    await waitForMtls(server.admin, true);
    const creds = await requestCertificate({
      control: { url: control.streamUrl, token: undefined, tokenFile: undefined, ca: undefined }, namespace: 'default', serviceAccount: 'bench-handshakes',
    });
    const dir = join(ctx.work, `handshake-${server.inbound}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cert.pem'), creds.certPem);
    writeFileSync(join(dir, 'key.pem'), creds.keyPem);
    writeFileSync(join(dir, 'ca.pem'), creds.roots.join('\n'));
    const pids = processTree(proc.pid as number);
    for (const mode of ['full', 'resumed'] as const) {
      const run = (secs: number, n: number) => execFileAsync('taskset', ['-c', ctx.loadCpu, process.execPath, HANDSHAKE_LOAD,
        '--port', String(server.inbound), '--dir', dir, '--expect', 'spiffe://cluster.local/ns/default/sa/upstream',
        '--seconds', String(secs), '--count', String(n), '--concurrency', String(concurrency), ...(mode === 'resumed' ? ['--resume'] : [])],
      { timeout: (secs + 30) * 1000 }).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').pop() as string) as HandshakeLoadResult);
      await run(1, 500); // warm-up: JIT on both sides
      const before = await getText(`http://127.0.0.1:${server.admin}/metrics`);
      const cpuBefore = cpuSeconds(pids);
      const r = await run(seconds, count);
      const cpu = cpuSeconds(pids) - cpuBefore;
      const after = await getText(`http://127.0.0.1:${server.admin}/metrics`);
      const counted = metricSum(after, 'petrel_tls_handshakes_total', { direction: 'inbound' }) - metricSum(before, 'petrel_tls_handshakes_total', { direction: 'inbound' });
      const errors = metricSum(after, 'petrel_tls_handshake_errors_total') - metricSum(before, 'petrel_tls_handshake_errors_total');
      if (r.resumed !== (mode === 'resumed' ? r.handshakes : 0)) {
        throw new Error(`handshake bench (${mode}): ${r.resumed} of ${r.handshakes} handshakes were resumed`);
      }
      if (counted < r.handshakes) throw new Error(`handshake bench (${mode}): the sidecar counted ${counted} handshakes, the client ${r.handshakes}`);
      rows.push({
        mode, concurrency, handshakes: r.handshakes, failures: r.failures, seconds: r.seconds, perSecond: r.handshakes / r.seconds,
        cpuUsPerHandshake: (cpu * 1e6) / counted, sidecarBusy: cpu / r.seconds, sidecarCounted: counted, sidecarErrors: errors,
      });
    }
  } finally {
    await stop(proc);
    await stop(control.proc);
  }
  return rows;
}

export interface KeepAliveRow {
  connections: number;
  requests: number;
  rps: number;
  errors: number;
  /** Established connections from the outbound sidecar to the inbound one, at the end of the run. */
  upstreamConnections: number;
  inboundHandshakes: number;
  outboundHandshakes: number;
  handshakeErrors: number;
}

/** Established TCP connections to 127.0.0.1:port (the inbound sidecar's listener), counted with ss. */
function establishedTo(port: number): number {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`]).toString();
  return out.split('\n').filter((l) => l.trim() !== '').length;
}

/**
 * For each N: a fresh mTLS pair, then wrk with N keep-alive connections for `seconds` through it
 * (no warm-up), with both sidecars' handshake counters read before and after, and the connections
 * between the sidecars counted right before wrk ends.
 */
export async function keepAliveHandshakes(ctx: MeshContext, app: string, seconds: number, counts: number[]): Promise<KeepAliveRow[]> {
  const rows: KeepAliveRow[] = [];
  for (const n of counts) {
    const pair = await startMeshPair(ctx, true, app);
    try {
      const before = await readMeshCounters(pair.server.admin, pair.client.admin);
      // ss while the load runs (a second before its end): the pools' connections are all open then.
      let upstream = 0;
      const probe = setTimeout(() => { upstream = establishedTo(pair.server.inbound); }, Math.max(1000, (seconds - 1) * 1000));
      const r = await wrkAsync(ctx.loadCpu, `http://127.0.0.1:${pair.client.outbound}/`, n, seconds, ['Host: upstream']);
      clearTimeout(probe);
      const after = await readMeshCounters(pair.server.admin, pair.client.admin);
      checkMesh(true, before, after, r.requests);
      rows.push({
        connections: n, requests: r.requests, rps: r.rps, errors: r.errors, upstreamConnections: upstream,
        inboundHandshakes: after.inboundHandshakes - before.inboundHandshakes, outboundHandshakes: after.outboundHandshakes - before.outboundHandshakes,
        handshakeErrors: after.handshakeErrors - before.handshakeErrors,
      });
    } finally {
      await pair.stop();
    }
  }
  return rows;
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function handshakeTable(rows: HandshakeRow[]): string {
  return ['| handshakes | in flight | handshakes/s | sidecar CPU µs/handshake | sidecar CPU busy | one sidecar CPU\'s worth (1 s / CPU per handshake) | completed (client / sidecar counter) | failures (client / sidecar) |',
    '|---|---:|---:|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.mode === 'full' ? 'full (no session reuse)' : 'resumed (TLS 1.3 ticket)'} | ${r.concurrency} | ${f(r.perSecond)} | ${f(r.cpuUsPerHandshake, 1)} | ` +
      `${f(r.sidecarBusy * 100)}% | ${f(1e6 / r.cpuUsPerHandshake)}/s | ${r.handshakes} / ${r.sidecarCounted} | ${r.failures} / ${r.sidecarErrors} |`)].join('\n');
}

export function keepAliveTable(rows: KeepAliveRow[], seconds: number): string {
  return [`| wrk connections (N) | requests in ${seconds} s | req/s | sidecar-to-sidecar connections (ss) | inbound handshakes | outbound handshakes | handshakes / N | handshake errors | errors |`,
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.connections} | ${r.requests} | ${f(r.rps)} | ${r.upstreamConnections} | ${r.inboundHandshakes} | ${r.outboundHandshakes} | ` +
      `${f(r.inboundHandshakes / r.connections, 2)} | ${r.handshakeErrors} | ${r.errors} |`)].join('\n');
}
