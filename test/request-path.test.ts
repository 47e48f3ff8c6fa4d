// Issue 10's request-path points end to end, through real sidecar processes and real upstreams:
// route timeouts agreed on both sides (1), policy state that survives snapshots (2), and a short
// blip that no longer becomes an outage when every breaker opens (14).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { snapshot, startSidecar, writeConfig, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('route timeouts: the caller decides, the callee follows its deadline', () => {
  let app: Upstream;
  let callee: SidecarHandle;
  let caller: SidecarHandle;
  const policy = {
    timeout: { total: '800ms' },
    retry: { attempts: 2, on: ['gateway-error'], budget: { ratio: 1, minPerSecond: 100 } },
    routes: [{ name: 'slow-allowed', match: { pathPrefix: '/slow-allowed' }, timeout: { total: '5s' } }],
  };

  before(async () => {
    app = await startUpstream((req, res) => {
      const delay = req.url?.startsWith('/slow') ? 1200 : 0;
      setTimeout(() => res.end('done'), delay);
    });
    // The callee's own service policy: what the control plane pushes as its inbound policy.
    callee = await startSidecar({ service: 'payments', app: app.address, config: snapshot(1, [], { inbound: { policy } }) });
    caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'payments', endpoints: [`127.0.0.1:${callee.inboundPort}`], policy }]) });
  });
  after(async () => {
    await Promise.all([caller?.stop(), callee?.stop()]);
    await app?.close();
  });

  it('lets a 1.2 s call on a route with total 5s through both sidecars, once', async () => {
    const started = Date.now();
    const reply = await call(caller.outboundPort, { path: '/slow-allowed/x', headers: { host: 'payments' } });
    assert.equal(reply.status, 200, reply.body);
    assert.equal(reply.body, 'done');
    assert.ok(Date.now() - started < 2400, 'no 504 from the callee and no retry of it');
    assert.equal(app.received.filter((r) => r.url?.startsWith('/slow-allowed')).length, 1);
  });

  it('still ends a call past the service total on other routes (504 UT, the callee follows the deadline)', async () => {
    const reply = await call(caller.outboundPort, { path: '/slow-other', headers: { host: 'payments' } });
    assert.equal(reply.status, 504);
    assert.match(String(reply.headers['petrel-error']), /UT/);
  });

  it('applies the callee\'s own route timeouts to a caller outside the mesh (no deadline sent)', async () => {
    const direct = await call(callee.inboundPort, { path: '/slow-allowed/y', headers: { host: 'payments' } });
    assert.equal(direct.status, 200);
    const other = await call(callee.inboundPort, { path: '/slow-other', headers: { host: 'payments' } });
    assert.equal(other.status, 504);
    assert.equal(other.headers['petrel-error'], 'UT');
  });
});

describe('policy state survives snapshots', () => {
  let app: Upstream;
  let sidecar: SidecarHandle;
  const release: (() => void)[] = [];
  const policy = { concurrency: { maxRequests: 1, maxPending: 0 }, rateLimit: { requestsPerSecond: 0.1, burst: 3 } };

  before(async () => {
    app = await startUpstream((req, res) => {
      if (req.url === '/hold') release.push(() => res.end('held'));
      else res.end('ok');
    });
    sidecar = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'payments', endpoints: [app.address], policy }]) });
  });
  after(async () => {
    release.forEach((r) => r());
    await sidecar?.stop();
    await app?.close();
  });

  it('keeps the concurrency limit and the bucket when a new snapshot only adds an endpoint', async () => {
    const held = call(sidecar.outboundPort, { path: '/hold', headers: { host: 'payments' } });
    await waitFor(() => release.length === 1, 'the first call reached the app');
    // Another pod registers somewhere: the sidecar gets a new snapshot.
    writeConfig(sidecar, snapshot(2, [{ name: 'payments', endpoints: [app.address, '127.0.0.1:9'], policy }]));
    sidecar.proc.kill('SIGHUP');
    await waitFor(async () => (await sidecar.metric('petrel_config_version')) === 2, 'snapshot 2 applied');
    const second = await call(sidecar.outboundPort, { headers: { host: 'payments' } });
    assert.equal(second.status, 503, 'the call in flight still holds the only slot');
    assert.equal(second.headers['petrel-error'], 'UO');
    release.shift()?.();
    assert.equal((await held).status, 200);
    // Two of the three tokens are spent (the held call and the refused one took theirs before the limiter).
    writeConfig(sidecar, snapshot(3, [{ name: 'payments', endpoints: [app.address], policy }]));
    sidecar.proc.kill('SIGHUP');
    await waitFor(async () => (await sidecar.metric('petrel_config_version')) === 3, 'snapshot 3 applied');
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'payments' } })).status, 200, 'the last token');
    const limited = await call(sidecar.outboundPort, { headers: { host: 'payments' } });
    assert.equal(limited.status, 429, 'the push did not refill the bucket');
    assert.equal(await sidecar.metric('petrel_rate_limited_total', { peer_service: 'payments' }), 1);
  });
});

describe('a blip that opens every breaker costs the blip, not openFor (panic threshold)', () => {
  let app: Upstream;
  let sidecar: SidecarHandle;
  let resetting = false;

  before(async () => {
    app = await startUpstream((req, res) => {
      if (resetting) req.socket.destroy();
      else res.end('ok');
    });
    sidecar = await startSidecar({
      service: 'web',
      config: snapshot(1, [{ name: 'payments', endpoints: [app.address], policy: { circuitBreaker: { consecutiveFailures: 3, openFor: '30s' } } }]),
    });
  });
  after(async () => {
    await sidecar?.stop();
    await app?.close();
  });

  it('serves again as soon as the app does, although the only endpoint\'s breaker opened', async () => {
    resetting = true;
    const during = [];
    for (let i = 0; i < 10; i++) during.push((await call(sidecar.outboundPort, { headers: { host: 'payments' } })).status);
    assert.ok(during.every((s) => s >= 500), `every call failed during the blip: ${during.join(',')}`);
    assert.equal(await sidecar.metric('petrel_circuit_state', { peer_service: 'payments' }), 1, 'the breaker opened');
    resetting = false;
    await sleep(50);
    const afterBlip = await call(sidecar.outboundPort, { headers: { host: 'payments' } });
    assert.equal(afterBlip.status, 200, 'not a 30 s outage: panic sends to the open endpoint');
    assert.equal(await sidecar.metric('petrel_circuit_state', { peer_service: 'payments' }), 0, 'and its success closed the breaker');
  });
});
