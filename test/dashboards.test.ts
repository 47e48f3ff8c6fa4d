// Every panel of every Grafana dashboard, run as a query against a real Prometheus (Debian's
// package) scraping a local mesh under HTTP and gRPC load: each must return data. A panel that can
// never show data is a defect. The success-rate and gRPC panels are also checked for what they say.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARDS, type Panel } from '../api/dashboards.ts';
import { call } from './harness/client.ts';
import { startGrpcApp, type GrpcApp } from './harness/grpc-app.ts';
import { EchoClient } from './harness/grpc-client.ts';
import { freePort, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const POLICIES = `apiVersion: petrel.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: payments, namespace: default }
spec:
  targetRef: { kind: Service, name: payments }
  retry: { attempts: 3, on: [gateway-error], backoff: { strategy: fixed, base: 1ms, max: 1ms }, budget: { ratio: 0, minPerSecond: 1 } }
  circuitBreaker: { consecutiveFailures: 2, openFor: 500ms, maxOpenFor: 1s }
---
apiVersion: petrel.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: limited, namespace: default }
spec:
  targetRef: { kind: Service, name: limited }
  rateLimit: { requestsPerSecond: 5, burst: 5 }
---
apiVersion: petrel.dev/v1alpha1
kind: ResiliencePolicy
metadata: { name: slow, namespace: default }
spec:
  targetRef: { kind: Service, name: slow }
  concurrency: { maxRequests: 1, maxPending: 0 }
`;

/** grpc-status UNAVAILABLE, which the greeter's scripted calls fail with. */
const UNAVAILABLE = 14;

describe('Grafana dashboards against a real Prometheus', () => {
  const apps: Upstream[] = [];
  const sidecars: SidecarHandle[] = [];
  let control: ControlHandle;
  let prometheus: ChildProcess;
  let promUrl = '';
  let greeter: GrpcApp;
  const grpcCalls = { ok: 0, failed: 0 };

  before(async () => {
    let n = 0;
    const payments = await startUpstream((req, res) => { req.resume(); if (n++ % 4 < 2) { res.writeHead(503); res.end(); } else res.end('ok'); });
    const limited = await startUpstream((req, res) => { req.resume(); res.end('ok'); });
    const slow = await startUpstream((req, res) => { req.resume(); setTimeout(() => res.end('ok'), 30); });
    apps.push(payments, limited, slow);
    const dir = tempDir('petrel-policies-');
    writeFileSync(join(dir, 'policies.yaml'), POLICIES);
    control = await startControl({ policiesDir: dir });
    const args = ['--control', control.streamUrl];
    sidecars.push(await startSidecar({ service: 'payments', app: payments.address, args }));
    sidecars.push(await startSidecar({ service: 'limited', app: limited.address, args }));
    sidecars.push(await startSidecar({ service: 'slow', app: slow.address, args }));
    sidecars.push(await startSidecar({ service: 'web', args }));
    greeter = await startGrpcApp();
    sidecars.push(await startSidecar({ service: 'greeter', app: greeter.address, args }));
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const promDir = tempDir('petrel-prometheus-');
    writeFileSync(join(promDir, 'prometheus.yml'), [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: petrel-sidecars',
      `    static_configs: [{ targets: [${sidecars.map((s) => `'127.0.0.1:${s.adminPort}'`).join(', ')}] }]`,
      '  - job_name: petrel-control',
      `    static_configs: [{ targets: ['127.0.0.1:${control.apiPort}'] }]`,
      '',
    ].join('\n'));
    prometheus = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: 'ignore' });
    const deadline = Date.now() + 20_000;
    while (!(await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error('prometheus did not become ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Load for 8 s (bounded): flaky payments behind retries with a small budget, a rate-limited
    // service and a concurrency-limited one, through the web sidecar; and gRPC calls from web to the
    // greeter (half of them UNAVAILABLE), over one grpc-js channel to web's outbound listener.
    const web = sidecars[3] as SidecarHandle;
    const hosts = ['payments', 'limited', 'slow'];
    const until = Date.now() + 8000;
    let i = 0;
    const client = new EchoClient(`127.0.0.1:${web.outboundPort}`, { authority: 'greeter' });
    let calls = 0;
    const say = async (): Promise<void> => {
      const script = calls++ % 2 === 0 ? undefined : { fail: { code: UNAVAILABLE, details: 'flaky on purpose' } };
      const result = await client.unary(Buffer.from('hi'), { script, deadlineMs: 2000 });
      if (result.code === 0) grpcCalls.ok++; else grpcCalls.failed++;
    };
    await Promise.all([
      ...Array.from({ length: 6 }, async () => {
        while (Date.now() < until) await call(web.outboundPort, { headers: { host: hosts[i++ % 3] as string } }).catch(() => undefined);
      }),
      ...Array.from({ length: 2 }, async () => {
        while (Date.now() < until) await say();
      }),
    ]);
    client.close();
    await new Promise((r) => setTimeout(r, 1500)); // one more scrape
  });

  after(async () => {
    prometheus?.kill('SIGKILL');
    await greeter?.close();
    await Promise.all([...sidecars.map((s) => s.stop('SIGKILL')), control?.stop('SIGKILL')]);
    await Promise.all(apps.map((a) => a.close()));
  });

  async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const promExpr = expr.replaceAll('$__rate_interval', '30s').replaceAll('$service', '.+').replaceAll('$instance', '.+');
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promExpr)}`);
    const body = await res.json() as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    assert.equal(body.status, 'success', `${promExpr}: ${body.error ?? ''}`);
    return body.data?.result ?? [];
  }

  function panel(title: string): Panel {
    const found = DASHBOARDS.flatMap((d) => d.panels).find((p) => p.title === title);
    assert.ok(found, `a panel titled "${title}"`);
    return found;
  }

  /** The one value of a panel's first query for the series whose `label` is `value`. */
  async function valueFor(title: string, label: string, value: string): Promise<number> {
    const result = await query(panel(title).targets[0]?.expr ?? '');
    const series = result.find((r) => r.metric[label] === value);
    assert.ok(series, `${title}: a series for ${label}="${value}" in ${JSON.stringify(result)}`);
    return Number(series.value[1]);
  }

  it('the gRPC load got through the mesh, with both outcomes', () => {
    assert.ok(grpcCalls.ok > 0 && grpcCalls.failed > 0, `gRPC calls through web: ${JSON.stringify(grpcCalls)}`);
  });

  it('gRPC panels tell calls apart by grpc_status, and leave plain HTTP out', async () => {
    for (const [title, label, value] of [
      ['gRPC calls by service and status (inbound)', 'service', 'greeter'],
      ['Inbound gRPC calls by caller and status', 'peer_service', 'web'],
      ['Outbound gRPC calls by destination and status', 'peer_service', 'greeter'],
    ] as const) {
      const result = await query(panel(title).targets[0]?.expr ?? '');
      const statuses = new Set(result.filter((r) => r.metric[label] === value).map((r) => r.metric.grpc_status));
      assert.ok(statuses.has('0') && statuses.has('14'), `${title}: OK and UNAVAILABLE for ${value}, got ${[...statuses].join(', ')}`);
      assert.ok(result.every((r) => r.metric.grpc_status !== ''), `${title}: no plain HTTP series`);
      assert.ok(!result.some((r) => ['payments', 'limited', 'slow'].includes(r.metric[label] ?? '')), `${title}: HTTP-only services are absent`);
    }
  });

  it('the gRPC success rate is the share of grpc-status 0; the overall success rate counts a gRPC error on HTTP 200 as a failure', async () => {
    const grpcRate = await valueFor('gRPC success rate by service (inbound, grpc-status 0)', 'service', 'greeter');
    assert.ok(grpcRate > 0.2 && grpcRate < 0.8, `half the greeter's calls fail: gRPC success rate ${grpcRate}`);
    const overall = await valueFor('Success rate by service (inbound: HTTP non-5xx, gRPC OK)', 'service', 'greeter');
    assert.ok(Math.abs(overall - grpcRate) < 0.05, `overall ${overall} agrees with the gRPC rate ${grpcRate} for a gRPC-only service`);
    const outbound = await valueFor('Outbound gRPC success rate by destination (grpc-status 0)', 'peer_service', 'greeter');
    assert.ok(outbound > 0 && outbound < 1, `outbound gRPC success rate ${outbound}`);
  });

  it('HTTP success rates are unchanged by the grpc_status label: non-5xx over all', async () => {
    assert.equal(await valueFor('Success rate by service (inbound: HTTP non-5xx, gRPC OK)', 'service', 'limited'), 1, 'limited answers 200 to all it gets');
    const payments = await valueFor('Success rate by service (inbound: HTTP non-5xx, gRPC OK)', 'service', 'payments');
    assert.ok(payments > 0.2 && payments < 0.8, `payments answers 503 to half: ${payments}`);
    const limitedOut = await valueFor('Outbound success rate by destination (HTTP non-5xx, gRPC OK)', 'peer_service', 'limited');
    assert.equal(limitedOut, 1, 'a 429 is not a failure of the destination');
  });

  for (const dashboard of DASHBOARDS) {
    it(`${dashboard.title}: every panel query returns data`, async () => {
      const empty: string[] = [];
      for (const panel of dashboard.panels) {
        for (const target of panel.targets) {
          const expr = target.expr.replaceAll('$__rate_interval', '30s').replaceAll('$service', '.+').replaceAll('$instance', '.+');
          const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
          const body = await res.json() as { status: string; error?: string; data?: { result: unknown[] } };
          assert.equal(body.status, 'success', `${panel.title}: ${expr}: ${body.error ?? ''}`);
          if ((body.data?.result.length ?? 0) === 0) empty.push(`${panel.title}: ${expr}`);
        }
      }
      assert.deepEqual(empty, [], 'panels without data');
    });
  }
});
