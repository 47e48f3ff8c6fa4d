// `petrel check` and `petrel stat` against a running local mesh: a control plane with a policy
// directory and a token, a payments sidecar in front of an app that answers 500 to exactly one
// request in five, and a web sidecar that calls it.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StatBody } from '../api/stat-summary.ts';
import type { CheckReport } from '../control/check-command.ts';
import { STAT_REPORT_MS } from '../sidecar/config/control-client.ts';
import { call } from './harness/client.ts';
import { runPetrel, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

const REQUESTS = 500;
const CONCURRENCY = 10;

describe('operating the mesh: petrel check and petrel stat', () => {
  let app: Upstream;
  let control: ControlHandle;
  let web: SidecarHandle;
  let payments: SidecarHandle;
  let dir: string;
  let tokenFile: string;
  let served = 0;
  const cli = (command: string, ...args: string[]) => runPetrel([command, '--control', control.apiUrl, '--token-file', tokenFile, ...args]);

  before(async () => {
    // Deterministic: the 1st, 6th, 11th, ... request fails, whatever the interleaving.
    app = await startUpstream((req, res) => {
      req.resume();
      if (served++ % 5 === 0) { res.writeHead(500); res.end('failing on purpose'); return; }
      res.end('ok');
    });
    dir = tempDir('petrel-policies-');
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 'operate-secret\n');
    control = await startControl({ policiesDir: dir, tokenFile, args: ['--startup-grace', '0s'] });
    const args = ['--control', control.streamUrl, '--token-file', tokenFile];
    payments = await startSidecar({ service: 'payments', app: app.address, args });
    web = await startSidecar({ service: 'web', args });
    const services = async (h: SidecarHandle) => ((await (await h.admin('/config_dump')).json()) as { services: { id: string }[] }).services.map((s) => s.id.split('.')[0]);
    await waitFor(async () => (await services(web)).includes('payments'), 'payments in the web sidecar\'s snapshot');
    await waitFor(async () => (await control.status()).sidecars.filter((s) => s.state === 'SYNCED').length === 2, 'two SYNCED sidecars');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), payments?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('stat shows the success rate of a service failing 20% of its requests, from the sidecars', async () => {
    let next = 0;
    const statuses = new Map<number, number>();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next++;
        const r = await call(web.outboundPort, { headers: { host: 'payments' } });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    }));
    assert.deepEqual(Object.fromEntries(statuses), { 200: REQUESTS * 0.8, 500: REQUESTS * 0.2 }, 'the app failed one in five, and the mesh passed that through');
    // Each sidecar sends its summary every STAT_REPORT_MS: the next one after the traffic holds all of it.
    await new Promise((r) => setTimeout(r, STAT_REPORT_MS + 1000));
    const json = await cli('stat', '-o', 'json');
    assert.equal(json.code, 0, json.stdout + json.stderr);
    const body = JSON.parse(json.stdout) as StatBody;
    const row = body.services.find((s) => s.service === 'payments');
    assert.ok(row, `a payments row in ${json.stdout}`);
    assert.equal(row.source, 'inbound', 'the payments sidecar reported: its inbound view is the service\'s truth');
    assert.ok(row.successRate !== null && Math.abs(row.successRate - 0.8) <= 0.05, `success rate ${row.successRate} is 80% within 5 points`);
    console.log(`measured payments success rate: ${row.successRate}, ${row.requestsPerSecond} rps, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms`);
    assert.ok(row.requestsPerSecond > 0 && row.p50Ms !== null && row.p99Ms !== null && row.p99Ms >= row.p50Ms);
    const route = row.routes.find((r) => r.route === 'default');
    assert.ok(route?.successRate !== null && Math.abs(route!.successRate! - 0.8) <= 0.05, 'the callers\' per-route view agrees');
    assert.equal(body.services.some((s) => s.service === 'web'), false, 'nobody called web');
    const text = await cli('stat');
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^NAME +RPS +SUCCESS +P50 +P95 +P99 +RETRIES\/S$/m);
    assert.match(text.stdout, /^payments\.default +\d+\.\d\d +(7[5-9]|8[0-5])\.\d\d% /m);
    assert.match(text.stdout, /^ {2}route default +\d+\.\d\d +(7[5-9]|8[0-5])\.\d\d% /m);
  });

  it('check passes on a healthy mesh', async () => {
    const r = await cli('check');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of ['control plane reachable and ready', 'policies accepted', 'sidecars synced', 'no version skew', 'certificates not close to expiry']) {
      assert.match(r.stdout, new RegExp(`^\\[ok\\] +${name}: `, 'm'));
    }
    assert.match(r.stdout, /2 sidecars SYNCED/);
    assert.match(r.stdout, /all 5 checks passed/);
  });

  it('check fails on a rejected policy file, naming the file', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, ['apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments }', 'spec:', '  targetRef: { kind: Service, name: payments }', '  retry: { attempts: 0 }', ''].join('\n'));
    await waitFor(async () => (await control.status()).policies.rejected.length > 0, 'the bad file rejected');
    const r = await cli('check', '-o', 'json');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.equal(report.firstFailure, 'policies accepted');
    assert.match(report.checks.find((c) => c.name === 'policies accepted')?.detail ?? '', /bad\.yaml/);
    const text = await cli('check');
    assert.equal(text.code, 1);
    assert.match(text.stdout, /^\[fail\] policies accepted: 1 rejected: .*bad\.yaml/m);
    assert.match(text.stdout, /^ +hint: fix each file/m);
    assert.match(text.stdout, /the first: policies accepted$/m);
    rmSync(bad);
    await waitFor(async () => (await control.status()).policies.rejected.length === 0, 'the bad file gone');
  });

  it('check fails naming the control plane once it is stopped', async () => {
    await control.stop();
    const r = await cli('check');
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^\[fail\] control plane reachable and ready: cannot reach http:\/\/127\.0\.0\.1:\d+\/ready: ECONNREFUSED/m);
    assert.match(r.stdout, /^\[skip\] policies accepted/m);
    assert.match(r.stdout, /the first: control plane reachable and ready$/m);
  });
});
