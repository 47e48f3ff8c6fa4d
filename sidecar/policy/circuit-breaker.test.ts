import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CircuitBreaker, type BreakerConfig, type CircuitState } from './circuit-breaker.ts';
import { SeededRandom } from './clock.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';

/** random() = 0.5 makes the ±10% jitter factor exactly 1. */
const noJitter = { next: () => 0.5 };
const config = (over: Partial<BreakerConfig> = {}): BreakerConfig => ({
  consecutiveFailures: 3, failureRate: undefined, openForMs: 1000, maxOpenForMs: 8000, halfOpenProbes: 1, ...over,
});

function setup(over: Partial<BreakerConfig> = {}, random: { next(): number } = noJitter) {
  const clock = new FakeClock();
  const transitions: CircuitState[] = [];
  const breaker = new CircuitBreaker(config(over), clock, random, (to) => transitions.push(to));
  return { clock, breaker, transitions };
}

describe('CircuitBreaker', () => {
  it('trips after consecutive failures; a success in between resets the count', () => {
    const { breaker, transitions } = setup();
    breaker.onFailure();
    breaker.onFailure();
    breaker.onSuccess();
    breaker.onFailure();
    breaker.onFailure();
    assert.equal(breaker.state, 'closed');
    breaker.onFailure();
    assert.equal(breaker.state, 'open');
    assert.deepEqual(transitions, ['open']);
    assert.equal(breaker.available(), false);
    assert.equal(breaker.acquire(), false);
  });

  it('stays open for openFor, then admits halfOpenProbes probes, and closes when they succeed', () => {
    const { clock, breaker, transitions } = setup({ halfOpenProbes: 2 });
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.advance(999);
    assert.equal(breaker.available(), false);
    clock.advance(1);
    assert.equal(breaker.available(), true);
    assert.equal(breaker.acquire(), true);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.acquire(), true);
    assert.equal(breaker.acquire(), false, 'no third probe');
    breaker.onSuccess();
    assert.equal(breaker.state, 'half-open');
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(transitions, ['open', 'half-open', 'closed']);
    assert.equal(breaker.acquire(), true);
  });

  it('re-opens on a failed probe, doubling the open time up to maxOpenFor', () => {
    const { clock, breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    const openTimes: number[] = [];
    for (let trip = 0; trip < 5; trip++) {
      const openedAt = clock.now();
      openTimes.push(breaker.openUntil - openedAt);
      clock.advance(breaker.openUntil - openedAt);
      assert.ok(breaker.acquire());
      breaker.onFailure();
    }
    assert.deepEqual(openTimes, [1000, 2000, 4000, 8000, 8000]);
  });

  it('after closing, the next trip opens for openFor again', () => {
    const { clock, breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.advance(1000);
    breaker.acquire();
    breaker.onFailure(); // second trip: 2000
    clock.advance(2000);
    breaker.acquire();
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed');
    const at = clock.now();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    assert.equal(breaker.openUntil - at, 1000);
  });

  it('gives a cancelled probe\'s slot back without a verdict', () => {
    const { clock, breaker } = setup();
    for (let i = 0; i < 3; i++) breaker.onFailure();
    clock.advance(1000);
    assert.equal(breaker.acquire(), true);
    assert.equal(breaker.acquire(), false);
    breaker.onCancelled();
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.acquire(), true, 'the slot is free again');
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed');
    breaker.onCancelled();
    assert.equal(breaker.state, 'closed');
  });

  it('jitters the open time by at most 10%, exactly per seed', () => {
    const { breaker } = setup({}, new SeededRandom(3));
    const durations = Array.from({ length: 5 }, () => breaker.nextOpenDuration());
    for (const d of durations) assert.ok(d >= 900 && d <= 1100, String(d));
    assert.equal(new Set(durations).size > 1, true);
    const again = setup({}, new SeededRandom(3)).breaker;
    assert.deepEqual(Array.from({ length: 5 }, () => again.nextOpenDuration()), durations);
  });

  it('trips on the failure rate once the window holds minRequests', () => {
    const { breaker } = setup({ consecutiveFailures: 100, failureRate: { threshold: 0.5, windowMs: 10_000, minRequests: 4 } });
    breaker.onFailure();
    breaker.onFailure();
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed', '2 of 3 failed, but 3 < minRequests');
    breaker.onFailure();
    assert.equal(breaker.state, 'open', '3 of 4 failed');
  });

  it('forgets outcomes older than the window', () => {
    const { clock, breaker } = setup({ consecutiveFailures: 100, failureRate: { threshold: 0.5, windowMs: 10_000, minRequests: 4 } });
    breaker.onFailure();
    breaker.onFailure();
    breaker.onFailure();
    breaker.onSuccess();
    breaker.onSuccess();
    breaker.onSuccess();
    clock.advance(11_000);
    breaker.onFailure();
    breaker.onSuccess();
    breaker.onSuccess();
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed', 'only 1 of the last 4 failed');
    breaker.onFailure();
    breaker.onFailure();
    breaker.onFailure();
    assert.equal(breaker.state, 'open', '4 of 7 in the window');
  });
});
