import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from './clock.ts';
import { ConcurrencyLimiter } from './concurrency-limiter.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import { FaultInjector } from './fault.ts';
import { RetryBudget } from './retry-budget.ts';
import { TokenBucket } from './token-bucket.ts';

describe('RetryBudget', () => {
  it('allows ratio x requests retries over the window, at least minPerSecond x window', () => {
    const clock = new FakeClock();
    const budget = new RetryBudget(0.2, 1, clock, 10_000);
    let allowed = 0;
    while (budget.tryRetry()) allowed++;
    assert.equal(allowed, 10, 'the floor: 1/s over 10 s');
    for (let i = 0; i < 100; i++) budget.recordRequest();
    while (budget.tryRetry()) allowed++;
    assert.equal(allowed, 20, '20% of 100 requests');
  });

  it('slides: spent retries free up as the window moves on', () => {
    const clock = new FakeClock();
    const budget = new RetryBudget(0, 1, clock, 10_000);
    for (let i = 0; i < 10; i++) assert.ok(budget.tryRetry());
    assert.equal(budget.tryRetry(), false);
    clock.advance(5_000);
    assert.equal(budget.tryRetry(), false, 'all 10 are still in the window');
    clock.advance(5_000);
    assert.equal(budget.tryRetry(), true, 'the first bucket left the window');
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the sustained rate, and says when to come back', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, 5, clock);
    for (let i = 0; i < 5; i++) assert.ok(bucket.tryTake());
    assert.equal(bucket.tryTake(), false);
    assert.equal(bucket.retryAfterSeconds(), 1);
    clock.advance(99);
    assert.equal(bucket.tryTake(), false);
    clock.advance(1);
    assert.equal(bucket.tryTake(), true, 'one token per 100 ms at 10/s');
    clock.advance(60_000);
    for (let i = 0; i < 5; i++) assert.ok(bucket.tryTake());
    assert.equal(bucket.tryTake(), false, 'never more than the burst');
  });
});

describe('ConcurrencyLimiter', () => {
  it('grants maxRequests, queues maxPending in order, refuses the rest', () => {
    const limiter = new ConcurrencyLimiter(2, 2);
    const granted: string[] = [];
    const waiter = (name: string) => ({ granted: () => granted.push(name) });
    assert.equal(limiter.acquire(waiter('a')), 'granted');
    assert.equal(limiter.acquire(waiter('b')), 'granted');
    const c = waiter('c');
    assert.equal(limiter.acquire(c), 'queued');
    assert.equal(limiter.acquire(waiter('d')), 'queued');
    assert.equal(limiter.acquire(waiter('e')), 'rejected');
    limiter.cancel(c);
    limiter.release();
    assert.deepEqual(granted, ['d'], 'c left the queue; d got the slot');
    assert.equal(limiter.inFlight, 2);
    limiter.release();
    limiter.release();
    assert.equal(limiter.inFlight, 0);
    assert.equal(limiter.pending, 0);
  });
});

describe('FaultInjector', () => {
  it('aborts and delays the configured shares, exactly per seed', () => {
    const faults = new FaultInjector({ delay: { ms: 50, percent: 10 }, abort: { status: 503, percent: 5 } }, new SeededRandom(11));
    const counts = { none: 0, delay: 0, abort: 0 };
    for (let i = 0; i < 10_000; i++) counts[faults.decide().kind]++;
    assert.deepEqual(counts, { none: 8555, delay: 950, abort: 495 }); // about 5% aborted, 10% of the rest delayed
  });

  it('never faults at 0%', () => {
    const faults = new FaultInjector({ delay: { ms: 1, percent: 0 }, abort: { status: 500, percent: 0 } }, new SeededRandom(1));
    for (let i = 0; i < 1000; i++) assert.equal(faults.decide().kind, 'none');
  });
});
