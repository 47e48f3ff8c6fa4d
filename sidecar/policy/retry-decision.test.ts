import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';
import { SeededRandom } from './clock.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import { RetryBudget } from './retry-budget.ts';
import { compileConditions, RetryPolicy } from './retry-policy.ts';
import { decideRetry, type RetryRequest } from './retry-decision.ts';

const clock = new FakeClock(10_000);
const make = (opts: { attempts?: number; on?: string[]; nonIdempotent?: boolean; budget?: RetryBudget } = {}) =>
  new RetryPolicy(opts.attempts ?? 3, compileConditions(opts.on ?? ['gateway-error', '429']), new Backoff('fixed', 100, 100, new SeededRandom(1)),
    opts.budget ?? new RetryBudget(1, 100, clock), opts.nonIdempotent ?? false);
const request = (over: Partial<RetryRequest> = {}): RetryRequest => ({ attempts: 1, method: 'GET', replayable: true, now: clock.now(), deadline: Infinity, ...over });
const status = (s: number, retryAfterMs?: number) => ({ kind: 'status' as const, status: s, retryAfterMs });

describe('decideRetry: one pure decision per failed attempt', () => {
  it('retries a matching status after the backoff, with the status as the reason', () => {
    assert.deepEqual(decideRetry(make(), status(503), request()), { retry: true, delayMs: 100, reason: '503' });
  });

  it('says why it does not retry, in order: condition, attempts, safety, body, deadline, budget', () => {
    assert.deepEqual(decideRetry(make(), status(500), request()), { retry: false, why: 'condition' });
    assert.deepEqual(decideRetry(make(), status(503), request({ attempts: 3 })), { retry: false, why: 'attempts' });
    assert.deepEqual(decideRetry(make(), status(503), request({ method: 'POST' })), { retry: false, why: 'unsafe' });
    assert.deepEqual(decideRetry(make(), status(503), request({ replayable: false })), { retry: false, why: 'body' });
    assert.deepEqual(decideRetry(make(), status(429, 5000), request({ deadline: clock.now() + 4000 })), { retry: false, why: 'deadline' });
    const spent = new RetryBudget(0, 0, clock);
    assert.deepEqual(decideRetry(make({ budget: spent }), status(503), request()), { retry: false, why: 'budget' });
  });

  it('resends a POST that never left (connect failure) or that the policy allows', () => {
    assert.equal(decideRetry(make(), { kind: 'connect-failure', neverSent: true }, request({ method: 'POST' })).retry, true);
    assert.deepEqual(decideRetry(make(), { kind: 'reset', neverSent: false }, request({ method: 'POST' })), { retry: false, why: 'unsafe' });
    assert.equal(decideRetry(make({ nonIdempotent: true }), { kind: 'reset', neverSent: false }, request({ method: 'POST' })).retry, true);
  });

  it('waits for Retry-After when it is longer than the backoff, and never past the deadline', () => {
    assert.deepEqual(decideRetry(make(), status(429, 700), request()), { retry: true, delayMs: 700, reason: '429' });
    assert.deepEqual(decideRetry(make(), status(503), request({ deadline: clock.now() + 40 })), { retry: true, delayMs: 40, reason: '503' });
  });

  it('takes from the budget only when every other rule said yes', () => {
    const budget = new RetryBudget(0, 0.1, clock); // one retry per 10 s window
    const policy = make({ budget });
    assert.equal(decideRetry(policy, status(500), request()).retry, false);
    assert.equal(decideRetry(policy, status(503), request({ method: 'POST' })).retry, false);
    assert.equal(decideRetry(policy, status(503), request()).retry, true, 'the one retry was still there');
    assert.deepEqual(decideRetry(policy, status(503), request()), { retry: false, why: 'budget' });
  });
  it('retries a gRPC status the policy names, a POST included, with the server\'s pushback as the delay', () => {
    const grpc = (code: number, pushbackMs?: number | 'never') => ({ kind: 'grpc' as const, status: code, pushbackMs });
    const policy = make({ on: ['unavailable', 'resource-exhausted'] });
    assert.deepEqual(decideRetry(policy, grpc(14), request({ method: 'POST' })), { retry: true, delayMs: 100, reason: 'grpc-14' });
    assert.deepEqual(decideRetry(policy, grpc(8, 250), request({ method: 'POST' })), { retry: true, delayMs: 250, reason: 'grpc-8' });
    assert.deepEqual(decideRetry(policy, grpc(14, 'never'), request({ method: 'POST' })), { retry: false, why: 'condition' });
    assert.deepEqual(decideRetry(policy, grpc(3), request({ method: 'POST' })), { retry: false, why: 'condition' });
    assert.deepEqual(decideRetry(policy, grpc(14), request({ method: 'POST', replayable: false })), { retry: false, why: 'body' });
    assert.deepEqual(decideRetry(policy, grpc(14, 500), request({ method: 'POST', deadline: clock.now() + 400 })), { retry: false, why: 'deadline' });
    assert.deepEqual(decideRetry(make({ on: ['gateway-error'] }), grpc(14), request({ method: 'POST' })), { retry: false, why: 'condition' },
      'HTTP conditions say nothing about gRPC statuses');
  });
});
