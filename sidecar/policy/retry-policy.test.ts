import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';
import { SeededRandom } from './clock.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import { RetryBudget } from './retry-budget.ts';
import { compileConditions, parseRetryAfter, RetryPolicy } from './retry-policy.ts';

const policy = (on: string[], nonIdempotent = false) =>
  new RetryPolicy(3, compileConditions(on), new Backoff('fixed', 1, 1, new SeededRandom(1)), new RetryBudget(1, 10, new FakeClock()), nonIdempotent);

describe('RetryPolicy', () => {
  it('maps conditions to statuses and failure kinds (Envoy semantics)', () => {
    const gateway = policy(['gateway-error']);
    assert.deepEqual([500, 502, 503, 504, 429].map((s) => gateway.retriesStatus(s)), [false, true, true, true, false]);
    assert.deepEqual((['connect-failure', 'reset', 'timeout'] as const).map((k) => gateway.retriesFailure(k)), [true, true, true]);
    const connectOnly = policy(['connect-failure']);
    assert.deepEqual((['connect-failure', 'reset', 'timeout'] as const).map((k) => connectOnly.retriesFailure(k)), [true, false, false]);
    assert.equal(connectOnly.retriesStatus(503), false);
    const listed = policy(['429', 'retriable-4xx']);
    assert.deepEqual([429, 409, 503].map((s) => listed.retriesStatus(s)), [true, true, false]);
    assert.ok(policy(['5xx']).retriesStatus(500));
  });

  it('resends POST and PATCH only when allowed or never sent', () => {
    const p = policy(['5xx']);
    assert.ok(p.maySend('GET', false));
    assert.ok(p.maySend('PUT', false));
    assert.ok(p.maySend('DELETE', false));
    assert.equal(p.maySend('POST', false), false);
    assert.equal(p.maySend('PATCH', false), false);
    assert.ok(p.maySend('POST', true), 'a connect failure sent nothing');
    assert.ok(policy(['5xx'], true).maySend('POST', false));
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    assert.equal(parseRetryAfter('2', 0), 2000);
    const now = Date.parse('2026-11-26T10:00:00Z');
    assert.equal(parseRetryAfter('Thu, 26 Nov 2026 10:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
  });
});
