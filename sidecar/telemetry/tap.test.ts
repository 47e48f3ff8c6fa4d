import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TapEvent } from '../../api/tap-messages.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import { Backoff } from '../policy/backoff.ts';
import { SeededRandom } from '../policy/clock.ts';
import { decideRetry } from '../policy/retry-decision.ts';
import { RetryBudget } from '../policy/retry-budget.ts';
import { compileConditions, RetryPolicy } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { Explanation, ExplainResponseHeaders, retryCondition, stripExplainHeader } from './explain.ts';
import { Tap } from './tap.ts';

describe('explanation formatting', () => {
  const clock = new FakeClock(0);
  const on = ['gateway-error', '429'];
  const policy = () => new RetryPolicy(3, compileConditions(on), new Backoff('fixed', 12, 12, new SeededRandom(1)), new RetryBudget(0.2, 1, clock), false, true, on);

  it('names the route, each attempt, the retry condition as the policy wrote it, the budget left and the backoff', () => {
    const p = policy();
    const e = new Explanation(true);
    e.route('writes');
    e.attempt(1, '127.0.0.1:8081');
    e.outcome('503');
    const request = { attempts: 1, method: 'GET', replayable: true, now: clock.now(), deadline: Infinity };
    e.retryDecision(decideRetry(p, { kind: 'status', status: 503, retryAfterMs: undefined }, request), p);
    e.attempt(2, '127.0.0.1:8082');
    e.outcome('200');
    // The budget allows minPerSecond x 10 s = 10 retries in its window; one is taken.
    assert.equal(e.compact(), 'route=writes; attempt 1 -> 127.0.0.1:8081: 503 retry(gateway-error, budget 9/10, backoff 12ms); attempt 2 -> 127.0.0.1:8082: 200');
    assert.equal(e.words(), 'route writes; attempt 1 -> 127.0.0.1:8081: 503, retry (gateway-error; budget 9/10 left; backoff 12 ms); attempt 2 -> 127.0.0.1:8082: 200');
  });

  it('says why a matching failure was not retried, and what a step decided', () => {
    const p = policy();
    const e = new Explanation();
    e.attempt(3, 'payments-2');
    e.outcome('UF');
    e.retryDecision(decideRetry(p, { kind: 'connect-failure', neverSent: true }, { attempts: 3, method: 'GET', replayable: true, now: 0, deadline: Infinity }), p);
    e.decision('rate_limited', 'RL', 429);
    assert.equal(e.compact(), 'attempt 3 -> payments-2: UF no-retry(attempts); rate_limited(429 RL)');
    assert.equal(e.words(), 'attempt 3 -> payments-2: UF, not retried (attempts exhausted); rate limited: 429 RL');
    // A status the policy does not retry on says nothing more.
    const f = new Explanation();
    f.attempt(1, 'a');
    f.outcome('404');
    f.retryDecision(decideRetry(p, { kind: 'status', status: 404, retryAfterMs: undefined }, { attempts: 1, method: 'GET', replayable: true, now: 0, deadline: Infinity }), p);
    assert.equal(f.compact(), 'attempt 1 -> a: 404');
  });

  it('maps a retry reason to the condition that matched it', () => {
    assert.equal(retryCondition(['5xx'], '503'), '5xx');
    assert.equal(retryCondition(['503', 'gateway-error'], '503'), '503');
    assert.equal(retryCondition(['connect-failure', 'gateway-error'], 'reset'), 'gateway-error');
    assert.equal(retryCondition(['unavailable'], 'grpc-14'), 'unavailable');
    assert.equal(retryCondition([], '429'), '429');
  });

  it('adds the header after the route\'s own response modifier, and strips it from a request in any case', () => {
    const e = new Explanation(true);
    e.route('default');
    const exchange = { responseHeaders: undefined } as { responseHeaders: ExplainResponseHeaders | undefined };
    e.relaying(exchange as never);
    const headers: Record<string, string> = {};
    exchange.responseHeaders?.applyToObject(headers);
    assert.equal(headers['petrel-explain'], 'route=default');
    const list = ['Host', 'x', 'Petrel-Explain', '1', 'accept', '*/*', 'petrel-explain', '1'];
    stripExplainHeader(list);
    assert.deepEqual(list, ['Host', 'x', 'accept', '*/*']);
  });
});

function fakeExchange(path = '/v1/pay?card=secret'): Exchange {
  return {
    method: 'GET', authority: 'payments', path, flags: '-', attempts: 1, upstream: 'payments.default endpoint 127.0.0.1:1', grpcStatusLabel: '',
    metrics: { labels: { direction: 'outbound', service: 'web', peer_service: 'payments', route: 'default', tls: 'false' } },
    explain: undefined, tap: undefined,
  } as unknown as Exchange;
}

describe('tap sampling', () => {
  const self = { service: 'web', namespace: 'default' };
  const spec = { id: 't1', service: 'payments', namespace: 'default', explain: true, leaseMs: 5000 };

  it('samples at most ratePerSecond a second on the injected clock, and counts the rest as dropped', () => {
    const clock = new FakeClock(0);
    const tap = new Tap({ clock, self, ratePerSecond: 10, maxBuffered: 1000 });
    const sent: TapEvent[] = [];
    tap.send = (events) => sent.push(...events);
    tap.control(spec);
    assert.equal(tap.active, true);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const x = fakeExchange();
        tap.begin(x, 'outbound', 'payments', 'default');
        if (x.tap !== undefined) tap.finish(x, 'outbound', 200, 0.001);
      }
    };
    run(50);
    assert.equal(tap.buffered().length, 10, 'the burst is the rate: 10 of 50 at once');
    assert.equal(tap.dropped('t1'), 40);
    clock.advance(500);
    assert.equal(sent.length, 10, 'uploaded on the flush timer');
    run(50);
    assert.equal(tap.buffered().length, 5, 'half a second refilled 5 tokens');
    const event = tap.buffered()[0] as TapEvent;
    assert.equal(event.path, '/v1/pay', 'the path without its query');
    assert.equal(event.peer, 'payments');
    assert.ok(event.explanation !== undefined, 'the tap asked for explanations');
  });

  it('bounds the buffer, ignores other services, and stops when the lease is not renewed', () => {
    const clock = new FakeClock(0);
    const tap = new Tap({ clock, self, ratePerSecond: 1000, maxBuffered: 3 });
    tap.control({ ...spec, explain: false });
    for (let i = 0; i < 5; i++) {
      const x = fakeExchange();
      tap.begin(x, 'outbound', 'payments', 'default');
      assert.equal(x.explain, undefined, 'no recorder without --explain');
      if (x.tap !== undefined) tap.finish(x, 'outbound', 200, 0.001);
    }
    assert.equal(tap.buffered().length, 3);
    assert.equal(tap.dropped('t1'), 2);
    const other = fakeExchange();
    tap.begin(other, 'outbound', 'ledger', 'default');
    assert.equal(other.tap, undefined, 'a call to another service is not sampled');
    // Requests from the tapped service are its own: a tap on web samples web's outbound calls.
    tap.control({ ...spec, id: 't2', service: 'web' });
    tap.begin(other, 'outbound', 'ledger', 'default');
    assert.deepEqual(other.tap, ['t2']);
    clock.advance(4000);
    tap.control({ ...spec, id: 't2', service: 'web' }); // t2 renewed, t1 not
    clock.advance(1500);
    assert.deepEqual(tap.sessions(), ['t2']);
    clock.advance(5000);
    assert.equal(tap.active, false, 'the lease ran out');
    tap.control({ ...spec, id: 't3' });
    tap.control({ ...spec, id: 't3', leaseMs: 0 });
    assert.equal(tap.active, false, 'a stop frame ends it at once');
  });
});
