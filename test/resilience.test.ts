// The resilience policies against real flaky upstream processes on loopback: retries (and their
// safety rules, budget and Retry-After), circuit breakers, EWMA balancing, limits, timeouts with
// deadline propagation, and fault injection.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, type Reply } from './harness/client.ts';
import { freePort, snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const generousBudget = { ratio: 1, minPerSecond: 1000 };

async function many(n: number, concurrency: number, one: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const out: Reply[] = new Array(n);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await one(i);
    }
  }));
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resilience policies end to end', () => {
  let flaky: Upstream; // fails 2 requests of every 3
  let down: Upstream; // always 503
  let ok: Upstream; // always 200
  let slow: Upstream; // 200 after 40 ms
  let hangFirst: Upstream; // the first request of each id hangs, the next answers
  let limited: Upstream; // 429 with Retry-After: 1 once, then 200
  let sleepy: Upstream; // answers after 300 ms
  let hang: Upstream; // never answers
  let deadPort: number;
  let sidecar: SidecarHandle;
  let inbound: SidecarHandle;

  before(async () => {
    const attemptsById = new Map<string, number>();
    flaky = await startUpstream((req, res) => {
      req.resume();
      // Every attempt of one request carries its x-request-id: fail the first two, answer the third.
      const id = req.headers['x-request-id'] as string;
      const n = (attemptsById.get(id) ?? 0) + 1;
      attemptsById.set(id, n);
      if (n < 3) { res.writeHead(503); res.end('flaky'); return; }
      res.end('ok');
    });
    down = await startUpstream((req, res) => { req.resume(); res.writeHead(503); res.end('down'); });
    ok = await startUpstream((req, res) => { req.resume(); res.end('ok'); });
    slow = await startUpstream((req, res) => { req.resume(); setTimeout(() => res.end('slow'), 40); });
    const seen = new Set<string>();
    hangFirst = await startUpstream((req, res) => {
      const id = req.headers['x-id'] as string;
      if (!seen.has(id)) { seen.add(id); return; }
      res.end('second try');
    });
    const limitedSeen = new Set<string>();
    limited = await startUpstream((req, res) => {
      const id = req.headers['x-id'] as string;
      if (!limitedSeen.has(id)) { limitedSeen.add(id); res.writeHead(429, { 'retry-after': '1' }); res.end(); return; }
      res.end('after retry-after');
    });
    sleepy = await startUpstream((req, res) => { req.resume(); setTimeout(() => res.end('sleepy'), 300); });
    hang = await startUpstream(() => {});
    deadPort = await freePort();
    inbound = await startSidecar({ service: 'backend', app: hang.address, config: snapshot(1, []) });
    sidecar = await startSidecar({
      service: 'web',
      config: snapshot(1, [
        { name: 'flaky', endpoints: [flaky.address], policy: { retry: { attempts: 3, on: ['gateway-error'], backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: generousBudget } } },
        { name: 'failover', endpoints: [down.address, ok.address], policy: { loadBalancer: { policy: 'round-robin' }, retry: { attempts: 2, on: ['5xx'], budget: generousBudget } } },
        { name: 'post-down', endpoints: [down.address], policy: { retry: { attempts: 3, on: ['5xx'], budget: generousBudget } } },
        { name: 'post-down-allowed', endpoints: [down.address], policy: { retry: { attempts: 3, on: ['5xx'], nonIdempotent: true, backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: generousBudget } } },
        { name: 'post-connect', endpoints: [`127.0.0.1:${deadPort}`, ok.address], policy: { loadBalancer: { policy: 'round-robin' } } },
        { name: 'breaker', endpoints: [`127.0.0.1:${deadPort}`, ok.address],
          policy: { loadBalancer: { policy: 'round-robin' }, circuitBreaker: { consecutiveFailures: 3, openFor: '1s', maxOpenFor: '1s' }, retry: { attempts: 2, on: ['connect-failure'], budget: generousBudget } } },
        { name: 'abandoned', endpoints: [sleepy.address], policy: { circuitBreaker: { consecutiveFailures: 2, openFor: '1m' } } },
        { name: 'all-open', endpoints: [`127.0.0.1:${deadPort}`], policy: { circuitBreaker: { consecutiveFailures: 2, openFor: '1m' }, loadBalancer: { panicThreshold: 0 } } },
        { name: 'balanced', endpoints: [ok.address, slow.address], policy: { loadBalancer: { policy: 'ewma' } } },
        { name: 'ratelimited', endpoints: [ok.address], policy: { rateLimit: { requestsPerSecond: 5, burst: 5 } } },
        { name: 'crowded', endpoints: [sleepy.address], policy: { concurrency: { maxRequests: 2, maxPending: 1 } } },
        { name: 'pertry', endpoints: [hangFirst.address], policy: { timeout: { perTry: '150ms' }, retry: { attempts: 2, on: ['gateway-error'], budget: generousBudget } } },
        { name: 'total', endpoints: [hang.address], policy: { timeout: { perTry: '100ms', total: '350ms' }, retry: { attempts: 10, on: ['gateway-error'], backoff: { strategy: 'fixed', base: '10ms', max: '10ms' }, budget: generousBudget } } },
        { name: 'retry-after', endpoints: [limited.address], policy: { retry: { attempts: 2, on: ['429'], backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: generousBudget } } },
        { name: 'stingy', endpoints: [down.address], policy: { retry: { attempts: 3, on: ['5xx'], backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: { ratio: 0, minPerSecond: 1 } } } },
        { name: 'deadline', endpoints: [ok.address], policy: { timeout: { total: '300ms' } } },
        { name: 'chaos-abort', endpoints: [ok.address], policy: { fault: { abort: { status: 418, percent: 100 } } } },
        { name: 'chaos-delay', endpoints: [ok.address], policy: { fault: { delay: { duration: '200ms', percent: 100 } } } },
        { name: 'routed', endpoints: [down.address], policy: {
          retry: { attempts: 1 },
          routes: [{ name: 'charge', match: { pathPrefix: '/v1/charge', methods: ['POST'] }, rateLimit: { requestsPerSecond: 1, burst: 1 } }],
        } },
      ]),
    });
  });

  after(async () => {
    await Promise.all([sidecar?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    await Promise.all([flaky, down, ok, slow, hangFirst, limited, sleepy, hang].map((u) => u?.close()));
  });

  it('turns an upstream failing 2 of 3 into 100% success, counting the retries', async () => {
    const before = flaky.received.length;
    const replies = await many(60, 6, () => call(sidecar.outboundPort, { headers: { host: 'flaky' } }));
    assert.deepEqual([...new Set(replies.map((r) => r.status))], [200]);
    assert.equal(flaky.received.length - before, 180, 'three attempts per request');
    assert.equal(await sidecar.metric('petrel_retries_total', { peer_service: 'flaky', reason: '503' }), 120);
    assert.equal(await sidecar.metric('petrel_requests_total', { peer_service: 'flaky', code: '200' }), 60);
  });

  it('sends a retry to a different endpoint when there is one', async () => {
    const [downBefore, okBefore] = [down.received.length, ok.received.length];
    const replies = await many(20, 1, () => call(sidecar.outboundPort, { headers: { host: 'failover' } }));
    assert.ok(replies.every((r) => r.status === 200));
    // Round-robin puts every first attempt on the failing endpoint (each retry advanced it past the
    // other one); each retry went to the other endpoint, never back to the one that failed.
    assert.equal(down.received.length - downBefore, 20);
    assert.equal(ok.received.length - okBefore, 20);
  });

  it('never sends a POST twice unless the policy says so', async () => {
    const before = down.received.length;
    const reply = await call(sidecar.outboundPort, { method: 'POST', path: '/charge', headers: { host: 'post-down' }, body: '{"amount":5}' });
    assert.equal(reply.status, 503);
    assert.equal(down.received.length - before, 1, 'the POST reached the upstream exactly once');
    const allowedBefore = down.received.length;
    const retried = await call(sidecar.outboundPort, { method: 'POST', path: '/charge', headers: { host: 'post-down-allowed' }, body: '{"amount":5}' });
    assert.equal(down.received.length - allowedBefore, 3, 'nonIdempotent: true allows all three attempts');
    assert.equal(retried.status, 503);
    assert.equal(retried.headers['petrel-error'], 'URX', 'retries exhausted: the last upstream status, flagged URX');
  });

  it('never resends a body larger than 64 KiB, even for an idempotent method', async () => {
    const before = down.received.length;
    const big = 'z'.repeat(100 * 1024);
    const reply = await call(sidecar.outboundPort, { method: 'PUT', path: '/blob', headers: { host: 'post-down-allowed' }, body: big });
    assert.equal(reply.status, 503);
    assert.equal(down.received.length - before, 1, 'the 100 KiB body was streamed once and not replayed');
    const small = await call(sidecar.outboundPort, { method: 'PUT', path: '/blob', headers: { host: 'post-down-allowed' }, body: 'z'.repeat(1024) });
    assert.equal(small.status, 503);
    assert.equal(down.received.length - before, 4, 'a 1 KiB body was buffered and resent twice');
  });

  it('retries a POST whose connection failed, since nothing was sent', async () => {
    const before = ok.received.length;
    const replies = await many(4, 1, () => call(sidecar.outboundPort, { method: 'POST', headers: { host: 'post-connect' }, body: 'x' }));
    assert.ok(replies.every((r) => r.status === 200), JSON.stringify(replies.map((r) => r.status)));
    assert.equal(ok.received.length - before, 4);
  });

  it('trips a dead endpoint\'s breaker, sends it nothing while open, probes it and recovers', async () => {
    const okBefore = ok.received.length;
    const replies = await many(20, 1, () => call(sidecar.outboundPort, { headers: { host: 'breaker' } }));
    assert.ok(replies.every((r) => r.status === 200), 'connect failures were retried on the live endpoint');
    assert.equal(await sidecar.metric('petrel_circuit_state', { peer_service: 'breaker', endpoint: `127.0.0.1:${deadPort}` }), 1);
    assert.equal(await sidecar.metric('petrel_circuit_transitions_total', { peer_service: 'breaker', to: 'open' }), 1);
    assert.equal(ok.received.length - okBefore, 20);
    assert.equal(await sidecar.metric('petrel_requests_total', { peer_service: 'breaker', code: '200' }), 20);
    const attemptsWhileTripping = await sidecar.metric('petrel_retries_total', { peer_service: 'breaker', reason: 'connect-failure' });
    assert.equal(attemptsWhileTripping, 3, 'after three failures the open endpoint got no more attempts');
    const dump = await (await sidecar.admin('/config_dump')).json() as { services: { id: string; endpoints: { address: string; circuit: string }[] }[] };
    const endpoints = dump.services.find((s) => s.id === 'breaker.default')?.endpoints ?? [];
    assert.deepEqual(endpoints.map((e) => [e.address, e.circuit]), [[`127.0.0.1:${deadPort}`, 'open'], [ok.address, 'closed']]);

    // The endpoint comes back; after openFor a real request probes it and closes the breaker.
    const revived = createServer((_req, res) => res.end('revived'));
    revived.listen(deadPort, '127.0.0.1');
    await once(revived, 'listening');
    try {
      await sleep(1100);
      let revivedServed = 0;
      for (let i = 0; i < 6; i++) if ((await call(sidecar.outboundPort, { headers: { host: 'breaker' } })).body === 'revived') revivedServed++;
      assert.ok(revivedServed >= 2, `the recovered endpoint serves again (${revivedServed} of 6)`);
      assert.equal(await sidecar.metric('petrel_circuit_state', { peer_service: 'breaker', endpoint: `127.0.0.1:${deadPort}` }), 0);
      assert.equal(await sidecar.metric('petrel_circuit_transitions_total', { peer_service: 'breaker', to: 'half-open' }), 1);
      assert.equal(await sidecar.metric('petrel_circuit_transitions_total', { peer_service: 'breaker', to: 'closed' }), 1);
    } finally {
      revived.close();
    }
  });

  it('does not count requests abandoned by their clients against the endpoint', async () => {
    const before = sleepy.received.length;
    await Promise.all(Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
      const socket = connect(sidecar.outboundPort, '127.0.0.1');
      socket.on('error', () => {});
      socket.write('GET / HTTP/1.1\r\nHost: abandoned\r\n\r\n');
      const poll = setInterval(() => {
        if (sleepy.received.length > before) { clearInterval(poll); socket.destroy(); resolve(); }
      }, 5);
    })));
    await sleep(50);
    assert.equal(await sidecar.metric('petrel_circuit_state', { peer_service: 'abandoned' }), 0, 'still closed');
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'abandoned' } })).status, 200);
  });

  it('fails fast with UO when every endpoint\'s circuit is open and panic is off (panicThreshold: 0)', async () => {
    // The first request fails to connect twice (the built-in never-sent retry): two failures trip it.
    assert.equal((await call(sidecar.outboundPort, { headers: { host: 'all-open' } })).headers['petrel-error'], 'UF');
    const started = Date.now();
    const reply = await call(sidecar.outboundPort, { headers: { host: 'all-open' } });
    assert.equal(reply.status, 503);
    assert.equal(reply.headers['petrel-error'], 'UO');
    assert.ok(Date.now() - started < 500);
  });

  it('moves traffic away from a slow endpoint with peak EWMA', async () => {
    const [fastBefore, slowBefore] = [ok.received.length, slow.received.length];
    await many(200, 4, () => call(sidecar.outboundPort, { headers: { host: 'balanced' } }));
    const toSlow = slow.received.length - slowBefore;
    const toFast = ok.received.length - fastBefore;
    assert.equal(toSlow + toFast, 200);
    assert.ok(toSlow < 20, `the slow endpoint got ${toSlow} of 200`);
  });

  it('answers 429 RL with Retry-After past the rate limit', async () => {
    const replies = await many(20, 20, () => call(sidecar.outboundPort, { headers: { host: 'ratelimited' } }));
    const limitedReplies = replies.filter((r) => r.status === 429);
    assert.ok(limitedReplies.length >= 14, `${limitedReplies.length} limited`);
    assert.ok(replies.filter((r) => r.status === 200).length >= 5);
    for (const r of limitedReplies) {
      assert.equal(r.headers['petrel-error'], 'RL');
      assert.equal(r.headers['retry-after'], '1');
    }
    assert.equal(await sidecar.metric('petrel_rate_limited_total', { peer_service: 'ratelimited' }), limitedReplies.length);
  });

  it('applies a route\'s own rate limit only to its route', async () => {
    const charges = await many(3, 3, () => call(sidecar.outboundPort, { method: 'POST', path: '/v1/charge', headers: { host: 'routed' }, body: 'x' }));
    assert.equal(charges.filter((r) => r.status === 429).length, 2);
    const others = await many(3, 3, () => call(sidecar.outboundPort, { method: 'POST', path: '/v1/refund', headers: { host: 'routed' }, body: 'x' }));
    assert.ok(others.every((r) => r.status === 503 && r.headers['petrel-error'] === undefined), 'the default route has no limit');
    assert.equal(await sidecar.metric('petrel_rate_limited_total', { peer_service: 'routed', route: 'charge' }), 2);
    assert.equal(await sidecar.metric('petrel_requests_total', { peer_service: 'routed', route: 'charge', code: '429', flags: 'RL' }), 2);
  });

  it('answers 503 UO past maxRequests plus maxPending', async () => {
    const replies = await many(6, 6, () => call(sidecar.outboundPort, { headers: { host: 'crowded' } }));
    assert.equal(replies.filter((r) => r.status === 200).length, 3, '2 in flight and 1 queued');
    const overflow = replies.filter((r) => r.status === 503);
    assert.equal(overflow.length, 3);
    assert.ok(overflow.every((r) => r.headers['petrel-error'] === 'UO'));
    assert.equal(await sidecar.metric('petrel_overflow_total', { peer_service: 'crowded' }), 3);
  });

  it('retries an attempt that passed its per-try timeout', async () => {
    const reply = await call(sidecar.outboundPort, { headers: { host: 'pertry', 'x-id': 'a' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'second try');
    assert.equal(await sidecar.metric('petrel_retries_total', { peer_service: 'pertry', reason: 'timeout' }), 1);
  });

  it('bounds all attempts and backoff by the total timeout (504 UT)', async () => {
    const started = Date.now();
    const reply = await call(sidecar.outboundPort, { headers: { host: 'total' } });
    const took = Date.now() - started;
    assert.equal(reply.status, 504);
    assert.equal(reply.headers['petrel-error'], 'UT');
    assert.ok(took >= 340 && took < 1500, `took ${took} ms`);
  });

  it('honours Retry-After on 429 before retrying', async () => {
    const started = Date.now();
    const reply = await call(sidecar.outboundPort, { headers: { host: 'retry-after', 'x-id': 'r1' } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'after retry-after');
    assert.ok(Date.now() - started >= 950, 'waited for Retry-After: 1');
  });

  it('stops retrying when the retry budget is spent, and counts it', async () => {
    const before = down.received.length;
    const replies = await many(20, 1, () => call(sidecar.outboundPort, { headers: { host: 'stingy' } }));
    assert.ok(replies.every((r) => r.status === 503));
    assert.equal(down.received.length - before, 20 + 10, 'the budget floor allows 1/s over 10 s: 10 retries');
    assert.ok(await sidecar.metric('petrel_retry_budget_exhausted_total', { peer_service: 'stingy' }) >= 10);
  });

  it('carries the remaining deadline to the next hop, which stops working past it', async () => {
    // The outbound sidecar tells the next hop how long its caller will still wait...
    await call(sidecar.outboundPort, { headers: { host: 'deadline' } });
    const sent = Number(ok.received.at(-1)?.headers['x-petrel-deadline-ms']);
    assert.ok(sent > 250 && sent <= 300, `x-petrel-deadline-ms: ${sent}`);
    // ...and an inbound sidecar given such a deadline gives up on the app when it passes, even
    // though this client would wait longer.
    const started = Date.now();
    const reply = await call(inbound.inboundPort, { headers: { host: 'backend', 'x-petrel-deadline-ms': '200' } });
    const took = Date.now() - started;
    assert.equal(reply.status, 504);
    assert.equal(reply.headers['petrel-error'], 'UT');
    assert.ok(took >= 190 && took < 1500, `took ${took} ms`);
    assert.equal(hang.received.at(-1)?.headers['x-petrel-deadline-ms'], undefined, 'the deadline header is between sidecars only');
    const expired = await call(inbound.inboundPort, { headers: { host: 'backend', 'x-petrel-deadline-ms': '0' } });
    assert.equal(expired.status, 504, 'a request whose caller already gave up is not started');
    assert.equal(await inbound.metric('petrel_requests_total', { direction: 'inbound', code: '504', flags: 'UT' }), 2);
  });

  it('injects faults: abort with the configured status, delay by the configured time', async () => {
    const before = ok.received.length;
    const aborted = await call(sidecar.outboundPort, { headers: { host: 'chaos-abort' } });
    assert.equal(aborted.status, 418);
    assert.equal(aborted.headers['petrel-error'], 'FI');
    assert.equal(ok.received.length, before, 'an aborted request is not sent');
    const started = Date.now();
    const delayed = await call(sidecar.outboundPort, { headers: { host: 'chaos-delay' } });
    assert.equal(delayed.status, 200);
    assert.ok(Date.now() - started >= 195);
    assert.equal(await sidecar.metric('petrel_requests_total', { peer_service: 'chaos-delay', flags: 'DI' }), 1);
  });
});
