// /metrics of a sidecar and of the control plane, live: `promtool check metrics` (Prometheus from
// Debian's packages) accepts both, and OpenMetrics is served to scrapers that ask for it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { snapshot, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

function promtool(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => resolve({ code, output }));
    p.stdin.end(text);
  });
}

describe('metrics exposition', () => {
  let app: Upstream;
  let sidecar: SidecarHandle;
  let control: ControlHandle;

  before(async () => {
    app = await startUpstream((_req, res) => res.end('ok'));
    control = await startControl({ policiesDir: tempDir() });
    sidecar = await startSidecar({
      service: 'web', app: app.address,
      config: snapshot(1, [{ name: 'api', endpoints: [app.address], policy: { retry: { attempts: 2 }, circuitBreaker: { consecutiveFailures: 3 }, rateLimit: { requestsPerSecond: 100 } } }]),
    });
    for (let i = 0; i < 5; i++) await call(sidecar.outboundPort, { headers: { host: 'api' } });
    await call(sidecar.inboundPort, { headers: { host: 'web' } });
  });

  after(async () => {
    await Promise.all([sidecar?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('passes promtool check metrics on a live sidecar scrape', async () => {
    const text = await sidecar.metrics();
    assert.match(text, /petrel_requests_total\{direction="outbound"/);
    assert.match(text, /petrel_circuit_state\{peer_service="api"/);
    const result = await promtool(text);
    assert.equal(result.code, 0, result.output);
    assert.equal(result.output.trim(), '');
  });

  it('passes promtool check metrics on a live control-plane scrape', async () => {
    const text = await (await fetch(`${control.apiUrl}/metrics`)).text();
    assert.match(text, /petrel_control_sidecars/);
    const result = await promtool(text);
    assert.equal(result.code, 0, result.output);
  });

  it('serves OpenMetrics to a scraper that asks for it', async () => {
    const res = await sidecar.admin('/metrics', { headers: { accept: 'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4' } });
    assert.match(res.headers.get('content-type') ?? '', /^application\/openmetrics-text; version=1\.0\.0/);
    const text = await res.text();
    assert.match(text, /^# TYPE petrel_requests counter$/m);
    assert.match(text, /^petrel_requests_total\{/m);
    assert.match(text, /^# TYPE petrel_request_duration_seconds histogram$/m);
    assert.ok(text.endsWith('# EOF\n'));
    assert.ok(!text.includes('\n\n'), 'OpenMetrics has no empty lines');
    const plain = await sidecar.admin('/metrics');
    assert.match(plain.headers.get('content-type') ?? '', /^text\/plain/);
  });
});
