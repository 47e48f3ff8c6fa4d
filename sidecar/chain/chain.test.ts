// The middle of the sidecar in process: a route's chain of steps on the fake clock, against
// scripted upstreams, with no socket and no process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PolicySpec, Snapshot } from '../../api/types.ts';
import { inProcessSidecar } from '../../test/harness/in-process.ts';

function snapshot(version: number, policy: PolicySpec, endpoints = ['10.0.0.1:80']): Snapshot {
  return {
    apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version,
    services: [{ name: 'payments', namespace: 'default', endpoints: endpoints.map((address) => ({ address })), policy }],
  };
}

const generousBudget = { ratio: 1, minPerSecond: 1000 };

describe('a route\'s chain on the fake clock', () => {
  it('retries a 503 after exactly the fixed backoff, then relays the success', async () => {
    const mesh = inProcessSidecar(snapshot(1, { retry: { attempts: 3, on: ['503'], backoff: { strategy: 'fixed', base: '100ms' }, budget: generousBudget } }));
    const { exchange, res } = mesh.request('payments');
    const [first] = mesh.upstreams.take();
    first!.respond(503);
    mesh.clock.advance(99);
    assert.equal(mesh.upstreams.calls.length, 0, 'no retry before the backoff is over');
    mesh.clock.advance(1);
    const [second] = mesh.upstreams.take();
    assert.ok(second, 'the retry went out at 100 ms');
    second!.respond(503);
    mesh.clock.advance(100);
    mesh.upstreams.take()[0]!.respond(200, 'ok');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, 'ok');
    assert.equal(exchange.attempts, 3);
    assert.equal(exchange.flags, '-');
  });

  it('answers URX with the last status once the attempts are spent', () => {
    const mesh = inProcessSidecar(snapshot(1, { retry: { attempts: 2, on: ['503'], backoff: { strategy: 'fixed', base: '10ms' }, budget: generousBudget } }));
    const { res } = mesh.request('payments');
    mesh.upstreams.take()[0]!.respond(503);
    mesh.clock.advance(10);
    mesh.upstreams.take()[0]!.respond(503, 'down');
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['petrel-error'], 'URX');
  });

  it('queues past maxRequests, refuses past maxPending, and lets the queued one go when a slot frees', () => {
    const mesh = inProcessSidecar(snapshot(1, { concurrency: { maxRequests: 1, maxPending: 1 } }));
    mesh.request('payments');
    const queued = mesh.request('payments');
    const refused = mesh.request('payments');
    assert.equal(refused.res.statusCode, 503);
    assert.equal(refused.res.headers['petrel-error'], 'UO');
    const [first] = mesh.upstreams.take();
    assert.equal(mesh.upstreams.calls.length, 0, 'the second waits for the slot');
    first!.respond(200);
    assert.equal(mesh.upstreams.take().length, 1, 'the queued request got the slot');
    assert.equal(queued.res.statusCode, 0, 'and is waiting for its upstream');
  });

  it('frees the queue place of an Upgrade whose client hangs up while it waits, and never sends it', () => {
    const mesh = inProcessSidecar(snapshot(1, { concurrency: { maxRequests: 1, maxPending: 1 } }));
    mesh.request('payments');
    const upgrade = mesh.request('payments', { upgrade: true, headers: ['connection', 'upgrade', 'upgrade', 'websocket'] });
    const [first] = mesh.upstreams.take();
    const limiter = mesh.store.current!.services[0]!.concurrency;
    assert.equal(limiter.pending, 1, 'the upgrade waits for the slot');
    upgrade.socket.destroy();
    assert.equal(limiter.pending, 0, 'its place is given back at once');
    assert.equal(upgrade.exchange.flags, 'DC');
    assert.ok(mesh.done.includes(upgrade.exchange), 'and it is recorded');
    first!.respond(200);
    assert.equal(limiter.inFlight, 0);
    assert.equal(mesh.upstreams.calls.length, 0, 'nothing was sent for it');
  });

  it('answers a refused Upgrade on its raw socket with a flagged reply (429 RL) and records it', () => {
    const mesh = inProcessSidecar(snapshot(1, { rateLimit: { requestsPerSecond: 1, burst: 1 } }));
    mesh.request('payments');
    const upgrade = mesh.request('payments', { upgrade: true, headers: ['connection', 'upgrade', 'upgrade', 'websocket'] });
    assert.match(upgrade.socket.written, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
    assert.match(upgrade.socket.written, /petrel-error: RL\r\n/);
    assert.match(upgrade.socket.written, /retry-after: 1\r\n/);
    assert.ok(upgrade.socket.destroyed);
    assert.equal(upgrade.exchange.status, 429);
    assert.ok(mesh.done.includes(upgrade.exchange));
  });

  it('keeps the concurrency limiter and the token bucket across snapshots that change only endpoints', () => {
    const policy: PolicySpec = { concurrency: { maxRequests: 1, maxPending: 0 }, rateLimit: { requestsPerSecond: 1, burst: 2 } };
    const mesh = inProcessSidecar(snapshot(1, policy));
    mesh.request('payments');
    assert.equal(mesh.upstreams.calls.length, 1);
    // A new endpoint registers somewhere in the mesh: a new snapshot arrives.
    mesh.store.apply(snapshot(2, policy, ['10.0.0.1:80', '10.0.0.2:80']), { kind: 'control', name: 'test' });
    const second = mesh.request('payments');
    assert.equal(second.res.statusCode, 503, 'one call is still in flight: the limit holds across the push');
    assert.equal(second.res.headers['petrel-error'], 'UO');
    // The bucket (burst 2) had two tokens; both are spent now; a third push must not refill it.
    mesh.store.apply(snapshot(3, policy, ['10.0.0.2:80']), { kind: 'control', name: 'test' });
    const third = mesh.request('payments');
    assert.equal(third.res.statusCode, 429, 'the bucket stayed empty across the push');
    assert.equal(third.res.headers['retry-after'], '1');
  });

  it('rebuilds a bucket only when its own settings change', () => {
    const mesh = inProcessSidecar(snapshot(1, { rateLimit: { requestsPerSecond: 1, burst: 1 } }));
    mesh.request('payments');
    mesh.store.apply(snapshot(2, { rateLimit: { requestsPerSecond: 1, burst: 1 }, timeout: { total: '3s' } }), { kind: 'control', name: 'test' });
    assert.equal(mesh.request('payments').res.statusCode, 429, 'a timeout edit leaves the bucket alone');
    mesh.store.apply(snapshot(3, { rateLimit: { requestsPerSecond: 5, burst: 5 } }), { kind: 'control', name: 'test' });
    mesh.request('payments');
    assert.equal(mesh.upstreams.calls.length, 2, 'a new rate is a new bucket');
  });

  it('holds a request for the injected delay, then sends it (DI)', () => {
    const mesh = inProcessSidecar(snapshot(1, { fault: { delay: { duration: '2s', percent: 100 } } }));
    const { exchange } = mesh.request('payments');
    mesh.clock.advance(1999);
    assert.equal(mesh.upstreams.calls.length, 0);
    mesh.clock.advance(1);
    assert.equal(mesh.upstreams.calls.length, 1);
    assert.equal(exchange.flags, 'DI');
  });

  it('drops a delayed request whose client left, without sending it', () => {
    const mesh = inProcessSidecar(snapshot(1, { fault: { delay: { duration: '1s', percent: 100 } } }));
    const { res, exchange } = mesh.request('payments');
    res.hangUp();
    mesh.clock.advance(1000);
    assert.equal(mesh.upstreams.calls.length, 0);
    assert.equal(exchange.flags, 'DI,DC');
  });

  it('ends the request at the total timeout with 504 UT and cancels the attempt', () => {
    const mesh = inProcessSidecar(snapshot(1, { timeout: { total: '500ms' } }));
    const { res } = mesh.request('payments');
    const [call] = mesh.upstreams.take();
    mesh.clock.advance(500);
    assert.ok(call!.aborted, 'the upstream attempt was aborted');
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['petrel-error'], 'UT');
  });

  it('never charges an endpoint for a request the client got wrong (400 DPE, breaker untouched)', () => {
    const mesh = inProcessSidecar(snapshot(1, { circuitBreaker: { consecutiveFailures: 1 } }));
    for (let i = 0; i < 5; i++) {
      mesh.upstreams.throwNext = Object.assign(new Error('invalid host header'), { code: 'UND_ERR_INVALID_ARG' });
      const { res } = mesh.request('payments');
      assert.equal(res.statusCode, 400);
      assert.equal(res.headers['petrel-error'], 'DPE');
    }
    const endpoint = mesh.store.current!.services[0]!.endpoints[0]!;
    assert.equal(endpoint.breaker?.state, 'closed');
    assert.equal(endpoint.stats.inflight, 0);
    mesh.request('payments');
    assert.equal(mesh.upstreams.calls.length, 1, 'a valid request still goes out');
  });

  it('in panic, keeps sending to the only endpoint although its breaker is open, and one success closes it', () => {
    const mesh = inProcessSidecar(snapshot(1, { circuitBreaker: { consecutiveFailures: 1, openFor: '30s' }, retry: { attempts: 1 } }));
    const endpoint = mesh.store.current!.services[0]!.endpoints[0]!;
    mesh.request('payments');
    mesh.upstreams.take()[0]!.fail('ECONNRESET');
    assert.equal(endpoint.breaker?.state, 'open');
    const { res } = mesh.request('payments');
    const [call] = mesh.upstreams.take();
    assert.ok(call, 'panic: the open endpoint still gets the request (no 30 s outage)');
    call!.respond(200);
    assert.equal(res.statusCode, 200);
    assert.equal(endpoint.breaker?.state, 'closed', 'the success closed the breaker at once');
  });

  it('with panicThreshold 0, fails fast while every breaker is open', () => {
    const mesh = inProcessSidecar(snapshot(1, { circuitBreaker: { consecutiveFailures: 1 }, retry: { attempts: 1 }, loadBalancer: { panicThreshold: 0 } }));
    mesh.request('payments');
    mesh.upstreams.take()[0]!.fail('ECONNRESET');
    const { res } = mesh.request('payments');
    assert.equal(mesh.upstreams.calls.length, 0);
    assert.equal(res.headers['petrel-error'], 'UO');
  });
});
