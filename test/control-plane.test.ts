// The control plane end to end on loopback: a control plane, two sidecars and a flaky app.
// Policy edits change behaviour within a second, an invalid file leaves the old policy in force,
// traffic survives the control plane's death, a restart re-syncs everyone, a wrong token gets
// nothing, and a NACKed snapshot is reported and never applied.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { call, type Reply } from './harness/client.ts';
import { freePort, runPetrel, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


const retryPolicy = [
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  'metadata: { name: payments, namespace: default }',
  'spec:',
  '  targetRef: { kind: Service, name: payments }',
  '  retry: { attempts: 3, on: [gateway-error], backoff: { strategy: fixed, base: 1ms, max: 1ms }, budget: { ratio: 1, minPerSecond: 1000 } }',
  '',
].join('\n');

describe('control plane', () => {
  let app: Upstream; // fails every other request
  let control: ControlHandle;
  let web: SidecarHandle;
  let payments: SidecarHandle;
  let dir: string;
  let tokenFile: string;
  let caDir: string;
  let count = 0;

  before(async () => {
    app = await startUpstream((req, res) => {
      req.resume();
      setTimeout(() => {
        if (count++ % 2 === 0) { res.writeHead(503); res.end('flaky'); return; }
        res.end('ok');
      }, 5);
    });
    dir = tempDir('petrel-policies-');
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 's3cret\n');
    // --ca-dir keeps the mesh root across the restart below: with an in-memory issuer a restarted
    // control plane has a new root, so every snapshot's trust bundle (and content) changes.
    caDir = tempDir('petrel-ca-');
    control = await startControl({ policiesDir: dir, tokenFile, args: ['--startup-grace', '2s', '--ca-dir', caDir] });
    const args = ['--control', control.streamUrl, '--token-file', tokenFile];
    payments = await startSidecar({ service: 'payments', app: app.address, args });
    web = await startSidecar({ service: 'web', args });
    // payments is pushed a new snapshot when web registers: wait until it holds web, then for both to ACK.
    const services = async (h: SidecarHandle) => ((await (await h.admin('/config_dump')).json()) as { services: { id: string }[] }).services.map((s) => s.id.split('.')[0]);
    await waitFor(async () => (await services(payments)).includes('web'), 'web in the payments sidecar\'s snapshot');
    await waitFor(async () => (await control.status()).sidecars.filter((s) => s.state === 'SYNCED').length === 2, 'two SYNCED sidecars');
    await waitFor(async () => (await call(web.outboundPort, { headers: { host: 'payments' } })).status !== 503 || true, 'a route to payments');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), payments?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('registers each sidecar and routes between them', async () => {
    const status = await control.status();
    assert.deepEqual(status.sidecars.map((s) => [s.service, s.state, s.connected]), [['payments', 'SYNCED', true], ['web', 'SYNCED', true]]);
    const replies: Reply[] = [];
    for (let i = 0; i < 10; i++) replies.push(await call(web.outboundPort, { headers: { host: 'payments' } }));
    assert.deepEqual([...new Set(replies.map((r) => r.status))].sort(), [200, 503], 'no policy yet: the flaky app shows through');
    const out = await runPetrel(['status', '--control', control.apiUrl, '--token-file', tokenFile]);
    assert.equal(out.code, 0);
    assert.match(out.stdout, /^SERVICE +NAMESPACE +ADDRESS +NAME +VERSION +STATUS +LAST SEEN +IDENTITY +CERT EXPIRES +ERROR$/m);
    assert.match(out.stdout, /^payments +default +127\.0\.0\.1:\d+ .* SYNCED /m);
  });

  it('applies a policy edit within a second, without failing requests in flight', async () => {
    const before = await web.metric('petrel_config_version');
    let stop = false;
    const replies: (Reply | Error)[] = [];
    const load = (async () => {
      while (!stop) replies.push(await call(web.outboundPort, { headers: { host: 'payments' } }).catch((e: Error) => e));
    })();
    await sleep(100);
    writeFileSync(join(dir, 'payments.yaml'), retryPolicy);
    const took = await waitFor(async () => (await web.metric('petrel_config_version')) > before, 'the new version at the web sidecar', 5000);
    assert.ok(took < 1000, `applied after ${took} ms`);
    await sleep(200);
    stop = true;
    await load;
    assert.ok(replies.every((r) => !(r instanceof Error) && (r.status === 200 || r.status === 503) && r.headers['petrel-error'] === undefined), 'no local failure during the swap');
    const after: Reply[] = [];
    for (let i = 0; i < 20; i++) after.push(await call(web.outboundPort, { headers: { host: 'payments' } }));
    assert.ok(after.every((r) => r.status === 200), 'retries now absorb the flaky app');
  });

  it('rejects an invalid file alone and keeps its last good policies in force', async () => {
    const version = await web.metric('petrel_config_version');
    writeFileSync(join(dir, 'payments.yaml'), retryPolicy.replace('attempts: 3', 'attempts: 0'));
    await waitFor(async () => (await control.status()).policies.rejected.length === 1, 'the rejection in status');
    const status = await control.status();
    assert.match(status.policies.rejected[0]?.errors[0] ?? '', /payments\.yaml:6: document 1: spec\.retry\.attempts: must be >= 1/);
    assert.equal(status.policies.count, 1, 'the last good version of the file is still in force');
    await sleep(300);
    assert.equal(await web.metric('petrel_config_version'), version, 'nothing was pushed');
    for (let i = 0; i < 10; i++) assert.equal((await call(web.outboundPort, { headers: { host: 'payments' } })).status, 200);
    assert.match(control.output(), /policy input rejected/);
    assert.equal(await control.metric('petrel_control_rejected_policies'), 1);
    writeFileSync(join(dir, 'payments.yaml'), retryPolicy);
    await waitFor(async () => (await control.status()).policies.rejected.length === 0, 'the fix to clear the rejection');
  });

  it('keeps traffic flowing while the control plane is down, and re-syncs every sidecar after a restart', async () => {
    const ports = { stream: control.streamPort, api: control.apiPort };
    const versions = [await web.metric('petrel_config_version'), await payments.metric('petrel_config_version')];
    await control.stop('SIGKILL');
    for (let i = 0; i < 20; i++) assert.equal((await call(web.outboundPort, { headers: { host: 'payments' } })).status, 200);
    assert.equal((await web.admin('/ready')).status, 200, 'still ready on the last config');
    await sleep(500);
    // The default startup grace (6 s) outlasts the sidecars' reconnect backoff (at most 5 s).
    control = await startControl({ policiesDir: dir, tokenFile, ports, args: ['--ca-dir', caDir] });
    await waitFor(async () => {
      const s = await control.status();
      return s.sidecars.length === 2 && s.sidecars.every((x) => x.state === 'SYNCED' && x.connected);
    }, 'both sidecars SYNCED with the new control plane');
    assert.deepEqual([await web.metric('petrel_config_version'), await payments.metric('petrel_config_version')], versions, 'resumed: same content, nothing new pushed');
    for (let i = 0; i < 20; i++) assert.equal((await call(web.outboundPort, { headers: { host: 'payments' } })).status, 200);
  });

  it('serves from its disk cache after a restart, before any control plane answers (a mesh without identity)', async () => {
    // Without identity the cached snapshot is all a sidecar needs to serve.
    const plain = await startControl({ policiesDir: dir, tokenFile, args: ['--startup-grace', '0s', '--no-identity'] });
    const args = ['--control', plain.streamUrl, '--token-file', tokenFile];
    const plainPayments = await startSidecar({ service: 'payments', app: app.address, args });
    const cache = join(tempDir(), 'snapshot.json');
    const first = await startSidecar({ service: 'cached', args: [...args, '--cache', cache] });
    let second: SidecarHandle | undefined;
    try {
      await waitFor(async () => (await call(first.outboundPort, { headers: { host: 'payments' } })).status === 200, 'a route to payments');
      const version = await first.metric('petrel_config_version');
      // The cache is written after the ACK: kill the sidecar only once it is there.
      await waitFor(() => existsSync(cache), 'the snapshot cache on disk');
      await first.stop('SIGKILL');
      const nowhere = `http://127.0.0.1:${await freePort()}`;
      second = await startSidecar({ service: 'cached', args: ['--control', nowhere, '--cache', cache] });
      assert.equal((await second.admin('/ready')).status, 200, 'ready from the cache');
      assert.equal(await second.metric('petrel_config_version'), version);
      assert.equal((await call(second.outboundPort, { headers: { host: 'payments' } })).status, 200, 'routes with the cached endpoints and policy');
      assert.match(second.output(), /serving the cached snapshot until the control plane answers/);
    } finally {
      await Promise.all([first.stop('SIGKILL'), second?.stop('SIGKILL'), plainPayments.stop('SIGKILL'), plain.stop('SIGKILL')]);
    }
  });

  it('with identity, a sidecar restarted from its cache stays unready until the CA answers: its key died with the process', async () => {
    const cache = join(tempDir(), 'snapshot.json');
    const first = await startSidecar({ service: 'cached', args: ['--control', control.streamUrl, '--token-file', tokenFile, '--cache', cache] });
    const version = await first.metric('petrel_config_version');
    await waitFor(() => existsSync(cache), 'the snapshot cache on disk');
    await first.stop('SIGKILL');
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const second = await startSidecar({ service: 'cached', args: ['--control', nowhere, '--cache', cache], waitReady: false });
    try {
      await waitFor(async () => (await second.metric('petrel_config_version')) === version, 'the cached snapshot loaded');
      const ready = await second.admin('/ready');
      assert.equal(ready.status, 503);
      assert.match(await ready.text(), /not ready: no workload certificate yet \(cannot reach the control plane/);
      assert.doesNotMatch(second.output(), /"key"|PRIVATE KEY/, 'the key is never logged');
    } finally {
      await second.stop('SIGKILL');
    }
  });

  it('gives nothing to a sidecar with a wrong token', async () => {
    const badToken = join(tempDir(), 'bad');
    writeFileSync(badToken, 'wrong');
    const intruder = await startSidecar({ service: 'intruder', args: ['--control', control.streamUrl, '--token-file', badToken], waitReady: false });
    try {
      await sleep(800);
      assert.equal((await intruder.admin('/ready')).status, 503, 'no config');
      assert.match(intruder.output(), /control plane answered 401/);
      assert.ok((await control.status()).sidecars.every((s) => s.service !== 'intruder'));
    } finally {
      await intruder.stop('SIGKILL');
    }
  });

  it('reports a NACK, and the sidecar never applies a rejected snapshot', async () => {
    // A stand-in control plane that pushes one good snapshot, then one the sidecar must reject.
    const acks: { version: number; status: string; error?: string }[] = [];
    let stream: ServerResponse | undefined;
    const fake = createServer((req, res) => {
      // A control plane without a CA: no certificates, so the sidecar runs without identity.
      if (req.url === '/v1/certificate') {
        req.resume();
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":"this control plane issues no certificates (--no-identity)"}');
        return;
      }
      if (req.url?.startsWith('/v1/subscribe')) {
        stream = res;
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(`${JSON.stringify({ type: 'hello', id: 'fake', heartbeatMs: 10_000 })}\n`);
        res.write(`${JSON.stringify({ type: 'snapshot', snapshot: { apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 5, services: [] } })}\n`);
        return;
      }
      let body = '';
      req.on('data', (c: Buffer) => { body += c.toString(); });
      req.on('end', () => { acks.push(JSON.parse(body)); res.writeHead(204); res.end(); });
    });
    fake.listen(0, '127.0.0.1');
    await once(fake, 'listening');
    const port = (fake.address() as { port: number }).port;
    const sidecar = await startSidecar({ service: 'lab', args: ['--control', `http://127.0.0.1:${port}`] });
    try {
      await waitFor(() => acks.length === 1, 'the ACK of version 5');
      assert.deepEqual(acks[0], { id: 'fake', version: 5, status: 'ACK' });
      stream?.write(`${JSON.stringify({ type: 'snapshot', snapshot: { apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 6, services: [{ name: 'x', namespace: 'default', endpoints: [{ address: 'nowhere' }] }] } })}\n`);
      await waitFor(() => acks.length === 2, 'the NACK of version 6');
      assert.equal(acks[1]?.status, 'NACK');
      assert.match(acks[1]?.error ?? '', /services\[0\]\.endpoints\[0\]\.address: must match/);
      assert.equal(await sidecar.metric('petrel_config_version'), 5, 'the last good version stays in force');
      assert.equal(await sidecar.metric('petrel_config_rejected_total', { source: 'control' }), 1);
    } finally {
      await sidecar.stop('SIGKILL');
      stream?.destroy();
      fake.closeAllConnections();
      fake.close();
    }
  });

  it('shows a NACK in status', async () => {
    // A hand-made subscriber that NACKs what it gets.
    const res = await fetch(`${control.streamUrl}/v1/subscribe?service=rogue&namespace=default`, { headers: { authorization: 'Bearer s3cret' } });
    const reader = res.body!.getReader();
    let text = '';
    const decoder = new TextDecoder();
    while (!text.includes('"snapshot"')) {
      const { done, value } = await reader.read();
      if (done) assert.fail(`the stream ended before a snapshot: ${text}`);
      text += decoder.decode(value);
    }
    const hello = JSON.parse(text.split('\n')[0]!) as { id: string; secret: string };
    const snapshot = JSON.parse(text.split('\n').find((l) => l.includes('"snapshot"'))!) as { snapshot: { version: number } };
    const ack = await fetch(`${control.streamUrl}/v1/ack`, {
      method: 'POST', headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
      body: JSON.stringify({ id: hello.id, secret: hello.secret, version: snapshot.snapshot.version, status: 'NACK', error: 'rogue says no' }),
    });
    assert.equal(ack.status, 204);
    const rogue = (await control.status()).sidecars.find((s) => s.service === 'rogue');
    assert.equal(rogue?.state, 'NACKED');
    assert.equal(rogue?.error, 'rogue says no');
    assert.equal(await control.metric('petrel_control_nacks_total'), 1);
    await reader.cancel();
  });
});
