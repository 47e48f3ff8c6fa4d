// `petrel demo`: a local mesh on loopback, no Kubernetes. Two services, web and payments, each with
// its own sidecar; load goes client -> web sidecar -> web app -> web sidecar (outbound) ->
// payments sidecar (inbound) -> payments app. Payments turns flaky, a resilience policy is applied
// live, payments dies and comes back; last, gRPC calls ride out one of two ledger pods failing every
// call. The demo shows what the mesh does, phase by phase, and ends by itself.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { PolicySpec } from '../api/types.ts';
import { driveGrpc, waitForGrpc } from './grpc-driver.ts';
import { keepUp, shouldKeepUp } from './keep-up.ts';
import { freePort, LocalMesh, waitForOk, type SidecarPorts } from './local-mesh.ts';

export interface DemoOptions {
  /** Requests in all, spread over the phases. */
  requests: number;
  /** Keep the mesh up at the end until Enter, even without a terminal (on one, it always does). */
  keep?: boolean;
  out?: (line: string) => void;
  input?: NodeJS.ReadableStream;
}

/** How one request or call ended; `failure` names why it failed (a petrel-error flag, "HTTP 503", "grpc-status 14"). */
export interface Outcome { ok: boolean; failure: string | undefined; ms: number }

interface HttpOutcome extends Outcome { status: number }

interface Phase {
  title: string;
  explain: string;
  before?: () => Promise<void>;
  /** The phase's load; HTTP requests to the web app through its sidecar unless the phase drives its own. */
  drive?: (count: number, tick: (done: Outcome[]) => void) => Promise<Outcome[]>;
  /** What one unit of load is called in the summary. */
  unit?: string;
  /** What the demo expects, checked after the phase: a failure makes the demo exit 1. */
  expect: (o: Outcome[]) => string | undefined | Promise<string | undefined>;
}

const CONCURRENCY = 16;

/** A ResiliencePolicy for a service, as a file the control plane watches. */
function policyYaml(service: string, spec: PolicySpec): string {
  return stringify({ apiVersion: 'petrel.dev/v1alpha1', kind: 'ResiliencePolicy', metadata: { name: service, namespace: 'default' }, spec: { targetRef: { kind: 'Service', name: service }, ...spec } });
}

/** What phase 3 applies to the web sidecar's view of payments. */
const RESILIENT_POLICY: PolicySpec = {
  timeout: { connect: '250ms', perTry: '1s', total: '3s' },
  // The web app calls POST /v1/charge, which Petrel never resends unless told: payments
  // deduplicates charges by x-request-id, so this policy says nonIdempotent: true.
  retry: {
    attempts: 4, on: ['gateway-error'], nonIdempotent: true,
    backoff: { strategy: 'exponential-jitter', base: '10ms', max: '100ms' }, budget: { ratio: 0.5, minPerSecond: 50 },
  },
  circuitBreaker: { consecutiveFailures: 10, openFor: '2s', maxOpenFor: '10s' },
  // payments has one pod: by default (panicThreshold 50) the balancer would keep trying it while its
  // breaker is open; this demo shows the fail-fast alternative.
  loadBalancer: { panicThreshold: 0 },
};
/**
 * policies/ledger.yaml. gRPC calls are POSTs, yet a trailers-only UNAVAILABLE is retried without
 * nonIdempotent: the server answered, and that status is the server asking to be retried.
 */
const LEDGER_POLICY: PolicySpec = { retry: { attempts: 3, on: ['unavailable'], backoff: { base: '5ms', max: '20ms' } } };
/** The ledger's pods: ledger-1 fails every call with UNAVAILABLE. */
const LEDGER_PODS = [{ name: 'ledger-0', mode: 'ok' }, { name: 'ledger-1', mode: 'unavailable' }] as const;
/** No phase runs longer than this, whatever the request count. */
const PHASE_LIMIT_MS = 30_000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

function summarize(outcomes: Outcome[], unit = 'requests'): string {
  const ok = outcomes.filter((o) => o.ok).length;
  const ms = outcomes.map((o) => o.ms).sort((a, b) => a - b);
  const reasons = new Map<string, number>();
  for (const o of outcomes) if (!o.ok) reasons.set(o.failure ?? 'unknown', (reasons.get(o.failure ?? 'unknown') ?? 0) + 1);
  const failures = [...reasons].map(([f, n]) => `${f} x${n}`).join(', ') || 'none';
  return `${outcomes.length} ${unit}, ${((100 * ok) / Math.max(1, outcomes.length)).toFixed(1)}% ok, ` +
    `p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms; failures: ${failures}`;
}

async function drive(port: number, count: number, agent: Agent, tick: (done: Outcome[]) => void): Promise<HttpOutcome[]> {
  const outcomes: HttpOutcome[] = [];
  const deadline = Date.now() + PHASE_LIMIT_MS;
  let next = 0;
  const one = (): Promise<void> => new Promise((resolve) => {
    const started = performance.now();
    const req = request({ host: '127.0.0.1', port, path: '/checkout', agent, headers: { host: 'web' } }, (res) => {
      res.resume();
      res.on('end', () => {
        const flag = res.headers['petrel-error'];
        const status = res.statusCode ?? 0;
        const failure = status === 200 ? undefined : typeof flag === 'string' ? flag : `HTTP ${status}`;
        outcomes.push({ ok: status === 200, failure, status, ms: performance.now() - started });
        resolve();
      });
    });
    req.on('error', () => { outcomes.push({ ok: false, failure: 'client error', status: 0, ms: performance.now() - started }); resolve(); });
    req.end();
  });
  const timer = setInterval(() => tick(outcomes), 1000);
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < count && Date.now() < deadline) {
      next++;
      await one();
    }
  }));
  clearInterval(timer);
  return outcomes;
}

export async function runDemo(options: DemoOptions): Promise<number> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const mesh = new LocalMesh();
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const webPorts = await mesh.sidecarPorts();
    const paymentsPorts = await mesh.sidecarPorts();
    const webApp = await freePort();
    const paymentsApp = await freePort();
    const canaryApp = await freePort();
    const canaryPorts = await mesh.sidecarPorts();
    const ledger: { name: string; mode: 'ok' | 'unavailable'; app: number; ports: SidecarPorts }[] = [];
    for (const pod of LEDGER_PODS) ledger.push({ ...pod, app: await freePort(), ports: await mesh.sidecarPorts() });
    const controlPorts = { stream: await freePort(), api: await freePort() };
    const controlUrl = `http://127.0.0.1:${controlPorts.stream}`;
    mesh.writePolicy(mesh.policiesDir, 'payments.yaml', policyYaml('payments', { timeout: { connect: '250ms', perTry: '1s' } }));

    out('Petrel demo: a local mesh on loopback, from the embedded defaults (no Kubernetes).');
    out(`  web app        127.0.0.1:${webApp}   behind its sidecar: inbound ${webPorts.inbound}, outbound ${webPorts.outbound}, admin ${webPorts.admin}`);
    out(`  payments app   127.0.0.1:${paymentsApp}   behind its sidecar: inbound ${paymentsPorts.inbound}, admin ${paymentsPorts.admin}`);
    out(`  path: client -> web sidecar -> web app -> web sidecar (outbound, Host: payments) -> payments sidecar -> payments app`);
    out(`  ledger apps    ${ledger.map((p) => `127.0.0.1:${p.app} (${p.name})`).join(', ')}   gRPC, started for the last phase, each behind its own sidecar`);
    out('  gRPC path: demo -> web sidecar (outbound, :authority: ledger) -> ledger-0 or ledger-1 sidecar -> its app');
    out(`  control plane  stream ${controlPorts.stream}, API ${controlPorts.api}; it watches ${mesh.policiesDir}`);
    out(`  logs: ${mesh.dir}`);
    out(`  while it runs: npx petrel status --control http://127.0.0.1:${controlPorts.api}; metrics at http://127.0.0.1:${webPorts.admin}/metrics`);
    const webView = `http://127.0.0.1:${controlPorts.api}/`;
    out(`  the mesh web view: ${webView} (npx petrel dashboard --control http://127.0.0.1:${controlPorts.api})`);
    mesh.startControl(mesh.policiesDir, controlPorts);
    await waitForOk(`http://127.0.0.1:${controlPorts.api}/ready`);
    mesh.startApp('payments', ['payments', String(paymentsApp)]);
    mesh.startApp('web', ['web', String(webApp), String(webPorts.outbound)]);
    mesh.startSidecar('payments', paymentsPorts, controlUrl, 'payments-0', `127.0.0.1:${paymentsApp}`);
    mesh.startSidecar('web', webPorts, controlUrl, 'web-0', `127.0.0.1:${webApp}`);
    await Promise.all([waitForOk(`http://127.0.0.1:${webPorts.admin}/ready`), waitForOk(`http://127.0.0.1:${paymentsPorts.admin}/ready`)]);
    await waitForOk(`http://127.0.0.1:${paymentsApp}/__chaos?fail=0`);
    // The web sidecar learns an endpoint when its sidecar registers with the control plane.
    const webLearns = async (what: string, ...needles: string[]) => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const dump = await fetch(`http://127.0.0.1:${webPorts.admin}/config_dump`).then((r) => r.text());
        if (needles.every((n) => dump.includes(n))) return;
        if (Date.now() > deadline) throw new Error(`the web sidecar never learned ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await webLearns('the payments endpoint', `127.0.0.1:${paymentsPorts.inbound}`);
    out('  all five processes are up; both sidecars are ready and SYNCED with the control plane.');
    const identityOf = async (port: number) =>
      (await fetch(`http://127.0.0.1:${port}/ready?details=1`).then((r) => r.json())) as { identity: string | null; certificateExpires?: string };
    const [webIdentity, paymentsIdentity] = await Promise.all([identityOf(webPorts.admin), identityOf(paymentsPorts.admin)]);
    out(`  identity: the control plane is the mesh CA; each sidecar made a key in memory and got a certificate for`);
    out(`    ${webIdentity.identity} and ${paymentsIdentity.identity} (valid until ${paymentsIdentity.certificateExpires}, renewed at 70%).`);
    out('  Every call between the two sidecars is TLS 1.3 with both certificates checked; the payments sidecar names its caller from the certificate.\n');

    const chaos = (rate: number) => async () => { await waitForOk(`http://127.0.0.1:${paymentsApp}/__chaos?fail=${rate}`); };
    const okShare = (o: Outcome[]) => o.filter((x) => x.ok).length / Math.max(1, o.length);
    const metric = async (port: number, name: string, labels: Record<string, string> = {}) => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    };
    const applyPolicy = async () => {
      const before = await metric(webPorts.admin, 'petrel_config_version');
      const started = Date.now();
      mesh.writePolicy(mesh.policiesDir, 'payments.yaml', policyYaml('payments', RESILIENT_POLICY));
      const deadline = Date.now() + 10_000;
      while ((await metric(webPorts.admin, 'petrel_config_version')) === before) {
        if (Date.now() > deadline) throw new Error('the web sidecar did not receive the new policy');
        await new Promise((r) => setTimeout(r, 20));
      }
      out(`  edited policies/payments.yaml; the control plane pushed it and the web sidecar applied it ${Date.now() - started} ms later:`);
      out(`    ${JSON.stringify(RESILIENT_POLICY)}`);
    };
    const startLedger = async () => {
      mesh.writePolicy(mesh.policiesDir, 'ledger.yaml', policyYaml('ledger', LEDGER_POLICY));
      for (const pod of ledger) {
        mesh.startApp(pod.name, ['ledger', String(pod.app), pod.name, pod.mode]);
        mesh.startSidecar('ledger', pod.ports, controlUrl, pod.name, `127.0.0.1:${pod.app}`);
      }
      await Promise.all(ledger.flatMap((pod) => [waitForGrpc(pod.app), waitForOk(`http://127.0.0.1:${pod.ports.admin}/ready`)]));
      await webLearns('both ledger endpoints and the ledger policy', ...ledger.map((p) => `127.0.0.1:${p.ports.inbound}`), '"unavailable"');
      out('  started ledger-0 (healthy) and ledger-1 (fails every call with grpc-status 14 UNAVAILABLE): gRPC apps on plain node:http2 (h2c),');
      out('  each behind its own sidecar registered as service ledger. The demo calls ledger.Ledger/Record through the web sidecar.');
      out(`  policies/ledger.yaml: ${JSON.stringify(LEDGER_POLICY)}`);
    };
    // The canary: payments-v2, its own service, and an HTTPRoute on payments that splits by weight.
    const canaryRoute = (v1: number, v2: number) => [
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: { name: payments-canary, namespace: default }',
      'spec:', '  parentRefs: [{ group: "", kind: Service, name: payments, port: 80 }]', '  rules:',
      '    - name: canary',
      `      backendRefs: [{ name: payments, port: 80, weight: ${v1} }, { name: payments-v2, port: 80, weight: ${v2} }]`, '',
    ].join('\n');
    const servedBy = async () => ({
      v1: await metric(paymentsPorts.admin, 'petrel_requests_total', { direction: 'inbound', peer_service: 'web' }),
      v2: await metric(canaryPorts.admin, 'petrel_requests_total', { direction: 'inbound', peer_service: 'web' }),
    });
    let canaryBefore = { v1: 0, v2: 0 };
    const shiftTo = (v1: number, v2: number) => async () => {
      if (v1 === 90) {
        mesh.startApp('payments-v2', ['payments', String(canaryApp)]);
        mesh.startSidecar('payments-v2', canaryPorts, controlUrl, 'payments-v2-0', `127.0.0.1:${canaryApp}`);
        await Promise.all([waitForOk(`http://127.0.0.1:${canaryApp}/__chaos?fail=0`), waitForOk(`http://127.0.0.1:${canaryPorts.admin}/ready`)]);
        await webLearns('the payments-v2 endpoint', `127.0.0.1:${canaryPorts.inbound}`);
      }
      mesh.writePolicy(mesh.policiesDir, 'payments-route.yaml', canaryRoute(v1, v2));
      // (/config_dump is pretty-printed JSON.)
      await webLearns(`the canary route at ${v1}/${v2}`, `"weight": ${v2}`, '"name": "canary"');
      out(`  policies/payments-route.yaml: an HTTPRoute on Service payments, backendRefs payments weight ${v1}, payments-v2 weight ${v2}`);
      canaryBefore = await servedBy();
    };
    const measuredSplit = (v2Share: number) => async (o: Outcome[]) => {
      const now = await servedBy();
      const v1 = now.v1 - canaryBefore.v1;
      const v2 = now.v2 - canaryBefore.v2;
      const share = v2 / Math.max(1, v1 + v2);
      out(`  measured split: payments (v1) ${v1} calls, payments-v2 ${v2} calls: ${(share * 100).toFixed(1)}% to v2 (route says ${v2Share * 100}%)`);
      if (okShare(o) < 0.99) return 'expected at least 99% success during the canary';
      // A binomial bound: 4 standard deviations around the route's share.
      const n = v1 + v2;
      const sigma = Math.sqrt(Math.max(n * v2Share * (1 - v2Share), 1));
      return Math.abs(v2 - n * v2Share) <= 4 * sigma + 1 ? undefined : `expected about ${v2Share * 100}% of calls on payments-v2`;
    };
    const phases: Phase[] = [
      { title: 'healthy', explain: 'payments answers every call; the mesh adds two hops and nothing else.', before: chaos(0),
        expect: (o) => (okShare(o) >= 0.99 ? undefined : 'expected at least 99% success') },
      { title: 'payments turns flaky (20% 503)', before: chaos(0.2),
        explain: 'with no retry policy yet, each failure reaches the caller as the upstream 503 (no petrel-error flag: the app answered).',
        expect: (o) => (okShare(o) < 0.95 && okShare(o) > 0.6 ? undefined : 'expected about 80% success') },
      { title: 'a resilience policy, applied live', before: applyPolicy,
        explain: 'retries with jittered backoff absorb the 503s (POST is retried only because the policy says nonIdempotent: true); the budget caps them at 50% extra load; nothing restarted.',
        // Four attempts at 20% failure leave 0.16% of requests failing: allow a few.
        expect: (o) => (okShare(o) >= 0.97 ? undefined : 'expected at least 97% success with retries') },
      { title: 'payments app is down', before: () => mesh.stop('payments'),
        explain: 'the payments sidecar answers 503 UF; retries cannot help, so the breaker opens and, with panicThreshold: 0, the web sidecar fails fast with UO.',
        expect: (o) => (o.some((x) => x.failure === 'UO') && okShare(o) === 0 ? undefined : 'expected every request to fail, fast, with UO') },
      { title: 'payments is back',
        before: async () => {
          mesh.startApp('payments', ['payments', String(paymentsApp)]);
          await waitForOk(`http://127.0.0.1:${paymentsApp}/__chaos?fail=0`);
          out('  (waiting 2.2 s: the breaker stays open for openFor = 2s before it lets a probe through)');
          await new Promise((r) => setTimeout(r, 2200));
          const [probe] = await drive(webPorts.inbound, 1, agent, () => {});
          const state = await metric(webPorts.admin, 'petrel_circuit_state', { endpoint: 'payments-0' });
          out(`  one request goes first as the half-open probe: ${probe?.status}; petrel_circuit_state{endpoint="payments-0"} is now ${state} (0 = closed)`);
        },
        explain: 'the probe found payments healthy and closed the breaker; traffic flows again without a restart.',
        expect: (o) => (okShare(o) >= 0.99 ? undefined : 'expected at least 99% success once the probe closed the breaker') },
      { title: 'gRPC: one of two ledger pods fails every call',
        before: startLedger,
        explain: 'one HTTP/2 connection to the web sidecar carries every call, and the sidecar balances each call, not the ' +
          'connection, over ledger-0 and ledger-1; an UNAVAILABLE from ledger-1 comes back trailers-only, so the sidecar ' +
          'retries that call on ledger-0 (a retry avoids the endpoint that just failed) and the client never sees it.',
        drive: (count, tick) => driveGrpc({ port: webPorts.outbound, authority: 'ledger', count, concurrency: CONCURRENCY, limitMs: PHASE_LIMIT_MS, tick }),
        unit: 'calls',
        expect: async (o) => {
          const retries = await metric(webPorts.admin, 'petrel_retries_total', { peer_service: 'ledger' });
          const answered = (pod: (typeof ledger)[number], status: string) =>
            metric(pod.ports.admin, 'petrel_requests_total', { direction: 'inbound', grpc_status: status });
          const counted = await Promise.all(ledger.map(async (pod) => ({ pod, ok: await answered(pod, '0'), unavailable: await answered(pod, '14') })));
          out(`  the web sidecar retried ${retries} ledger calls; the ledger sidecars counted (petrel_requests_total): ` +
            counted.map((c) => `${c.pod.name} grpc_status="0" ${c.ok}, grpc_status="14" ${c.unavailable}`).join('; '));
          if (okShare(o) < 1) return 'expected every call to end with grpc-status 0';
          if (retries === 0) return 'expected the web sidecar to retry ledger calls';
          if (!counted.some((c) => c.pod.mode === 'unavailable' && c.unavailable > 0)) return 'expected ledger-1 to answer some calls with grpc_status="14"';
          return undefined;
        } },
      { title: 'canary: an HTTPRoute sends 10% of payments to v2', before: shiftTo(90, 10),
        explain: 'a Gateway API HTTPRoute attached to Service payments splits each call by weight between payments (v1) and ' +
          'payments-v2, each with its own endpoints and balancer; the web app and its sidecar change nothing.',
        expect: measuredSplit(0.1) },
      { title: 'canary promoted: the same route at 50/50', before: shiftTo(50, 50),
        explain: 'editing the weights in the route file shifts traffic live, as Flagger or Argo Rollouts would.',
        expect: measuredSplit(0.5) },
    ];
    const perPhase = Math.max(CONCURRENCY, Math.floor(options.requests / phases.length));
    const problems: string[] = [];
    for (const [i, phase] of phases.entries()) {
      await phase.before?.();
      out(`Phase ${i + 1}: ${phase.title}`);
      out(`  ${phase.explain}`);
      const tick = (done: Outcome[]) => out(`  ... ${summarize(done, phase.unit)}`);
      const outcomes = await (phase.drive ?? ((count, t) => drive(webPorts.inbound, count, agent, t)))(perPhase, tick);
      out(`  => ${summarize(outcomes, phase.unit)}`);
      const problem = await phase.expect(outcomes);
      out('');
      if (problem !== undefined) problems.push(`phase ${i + 1} (${phase.title}): ${problem}`);
    }

    const retries = await metric(webPorts.admin, 'petrel_retries_total');
    const trips = await metric(webPorts.admin, 'petrel_circuit_transitions_total', { to: 'open' });
    const closes = await metric(webPorts.admin, 'petrel_circuit_transitions_total', { to: 'closed' });
    out(`The web sidecar retried ${retries} times; the payments-0 breaker opened ${trips} time(s) and closed ${closes} time(s).`);
    const overMtls = await metric(paymentsPorts.admin, 'petrel_requests_total', { direction: 'inbound', peer_service: 'web', tls: 'true' });
    const handshakes = await metric(paymentsPorts.admin, 'petrel_tls_handshakes_total', { direction: 'inbound' });
    out(`The payments sidecar took ${overMtls} calls from web over mTLS on ${handshakes} TLS handshake(s): connections are kept alive.`);
    if (overMtls === 0) problems.push('no call reached payments over mTLS');
    out('What the sidecars counted (petrel_requests_total):');
    const sidecars = [['web', webPorts.admin], ['payments', paymentsPorts.admin], ...ledger.map((p) => [p.name, p.ports.admin] as const)] as const;
    for (const [name, port] of sidecars) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      for (const line of text.split('\n').filter((l) => l.startsWith('petrel_requests_total{'))) out(`  [${name} sidecar] ${line}`);
    }
    out('\nIn Kubernetes the same policies are ResiliencePolicy resources applied with kubectl.');
    if (problems.length > 0) out(`\nThe demo did not behave as expected:\n  ${problems.join('\n  ')}`);
    else out('Demo finished.');
    if (shouldKeepUp(options.keep)) {
      out('\nledger-1 still fails every call: in the web view ledger\'s own sidecars show those failures, while retries keep web -> ledger at 100%.');
      await keepUp({
        url: webView, out, ...(options.input === undefined ? {} : { input: options.input }),
        load: () => Promise.all([
          drive(webPorts.inbound, 8, agent, () => {}),
          driveGrpc({ port: webPorts.outbound, authority: 'ledger', count: 2, concurrency: 2, limitMs: 5000, tick: () => {} }),
        ]),
      });
    }
    return problems.length > 0 ? 1 : 0;
  } finally {
    agent.destroy();
    await mesh.stopAll();
  }
}
