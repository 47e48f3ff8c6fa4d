// The admin listener and the config lifecycle: readiness follows config and draining, /config_dump
// shows the snapshot in force, SIGHUP swaps in a new snapshot, and a bad one leaves the old in force.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { call } from './harness/client.ts';
import { runPetrel, snapshot, startSidecar, tempDir, writeConfig, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';


describe('admin server and config lifecycle', () => {
  let app: Upstream;
  let other: Upstream;
  let sidecar: SidecarHandle;

  before(async () => {
    app = await startUpstream((_req, res) => res.end('v1'));
    other = await startUpstream((_req, res) => res.end('v2'));
    sidecar = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'backend', endpoints: [app.address] }]) });
  });

  after(async () => {
    await sidecar?.stop('SIGKILL');
    await Promise.all([app?.close(), other?.close()]);
  });

  it('serves /live, /ready and /metrics', async () => {
    assert.equal((await sidecar.admin('/live')).status, 200);
    assert.equal((await sidecar.admin('/ready')).status, 200);
    const metrics = await sidecar.admin('/metrics');
    assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await metrics.text();
    assert.match(text, /# TYPE petrel_requests_total counter/);
    assert.match(text, /# TYPE petrel_request_duration_seconds histogram/);
    assert.match(text, /^petrel_config_version 1$/m);
  });

  it('dumps the config in force to loopback clients', async () => {
    const dump = await (await sidecar.admin('/config_dump')).json() as { version: number; services: { id: string; endpoints: { address: string }[] }[] };
    assert.equal(dump.version, 1);
    assert.deepEqual(dump.services.map((s) => [s.id, s.endpoints.map((e) => e.address)]), [['backend.default', [app.address]]]);
  });

  it('applies a new snapshot on SIGHUP and keeps the old one when the new one is invalid', async () => {
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'backend' } })).body, 'v1');
    writeConfig(sidecar, snapshot(2, [{ name: 'backend', endpoints: [other.address] }]));
    sidecar.proc.kill('SIGHUP');
    await waitFor(async () => (await sidecar.metric('petrel_config_version')) === 2, 'version 2');
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'backend' } })).body, 'v2');

    writeConfig(sidecar, [
      'apiVersion: petrel.dev/v1alpha1',
      'kind: SidecarSnapshot',
      'version: 3',
      'services:',
      '  - name: backend',
      '    namespace: default',
      '    endpoints: [{ address: "not an address" }]',
      '    policy: { retry: { attempts: 0 } }',
      '',
    ].join('\n'));
    sidecar.proc.kill('SIGHUP');
    await waitFor(async () => (await sidecar.metric('petrel_config_rejected_total', { source: 'file' })) === 1, 'the rejection');
    assert.equal(await sidecar.metric('petrel_config_version'), 2, 'the previous snapshot stays in force');
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'backend' } })).body, 'v2');
    const log = sidecar.output();
    assert.match(log, /snapshot\.yaml:7: document 1: services\[0\]\.endpoints\[0\]\.address: must match/);
    assert.match(log, /snapshot\.yaml:8: document 1: services\[0\]\.policy\.retry\.attempts: must be >= 1/);
  });

  it('turns /ready to 503 on POST /drain', async () => {
    const drained = await startSidecar({ service: 'web', config: snapshot(1, []) });
    try {
      assert.equal((await drained.admin('/drain', { method: 'POST' })).status, 202);
      assert.equal((await drained.admin('/ready')).status, 503);
      assert.equal((await drained.admin('/live')).status, 200, 'still alive while draining');
    } finally {
      await drained.stop('SIGKILL');
    }
  });

  it('changes the log level at run time', async () => {
    assert.equal((await sidecar.admin('/log-level?level=debug', { method: 'POST' })).status, 200);
    await call(sidecar.outboundPort, { headers: { host: 'backend' }, path: '/logged' });
    await waitFor(async () => sidecar.output().includes('"msg":"request"'), 'a debug request log line');
    assert.equal((await sidecar.admin('/log-level?level=loud', { method: 'POST' })).status, 400);
  });

  it('is not ready without a config, and answers UH', async () => {
    const bare = await startSidecar({ service: 'web', waitReady: false });
    try {
      assert.equal((await bare.admin('/ready')).status, 503);
      const reply = await call(bare.outboundPort, { headers: { host: 'anything' } });
      assert.equal(reply.status, 503);
      assert.equal(reply.headers['petrel-error'], 'UH');
    } finally {
      await bare.stop('SIGKILL');
    }
  });

  it('refuses to start on an invalid snapshot, naming file, line and field', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'apiVersion: petrel.dev/v1alpha1\nkind: SidecarSnapshot\nversion: 1\nservices:\n  - name: Payments\n    namespace: default\n    endpoints: []\n');
    const result = await runPetrel(['sidecar', '--service', 'web', '--config', file, '--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${file}:5: document 1: services\\[0\\]\\.name: must match`));
  });
});
