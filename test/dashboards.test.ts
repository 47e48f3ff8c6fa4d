// Every panel of every Grafana dashboard, run as a query against a real Prometheus (Debian's
// package) scraping a local mesh under load: each must return data. A panel that can never show
// data is a defect.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DASHBOARDS } from '../api/dashboards.ts';
import { call } from './harness/client.ts';
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

describe('Grafana dashboards against a real Prometheus', () => {
  const apps: Upstream[] = [];
  const sidecars: SidecarHandle[] = [];
  let control: ControlHandle;
  let prometheus: ChildProcess;
  let promUrl = '';

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
    // service and a concurrency-limited one, through the web sidecar.
    const web = sidecars[3] as SidecarHandle;
    const hosts = ['payments', 'limited', 'slow'];
    const until = Date.now() + 8000;
    let i = 0;
    await Promise.all(Array.from({ length: 6 }, async () => {
      while (Date.now() < until) await call(web.outboundPort, { headers: { host: hosts[i++ % 3] as string } }).catch(() => undefined);
    }));
    await new Promise((r) => setTimeout(r, 1500)); // one more scrape
  });

  after(async () => {
    prometheus?.kill('SIGKILL');
    await Promise.all([...sidecars.map((s) => s.stop('SIGKILL')), control?.stop('SIGKILL')]);
    await Promise.all(apps.map((a) => a.close()));
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
