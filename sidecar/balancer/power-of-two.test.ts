import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../policy/clock.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import { EndpointStats, EWMA_DECAY_MS } from '../upstream/endpoint-stats.ts';
import { leastRequestCost, peakEwmaCost, PowerOfTwoBalancer } from './power-of-two.ts';

function endpoint(name: string, clock: FakeClock, up = true): Endpoint {
  return { name, stats: new EndpointStats(clock), available: () => up } as unknown as Endpoint;
}

describe('EndpointStats (peak EWMA)', () => {
  it('jumps to a slower latency at once and decays towards faster ones', () => {
    const clock = new FakeClock();
    const stats = new EndpointStats(clock);
    stats.observe(100);
    assert.equal(stats.ewmaMs, 100, 'peak: takes the slower sample at once');
    clock.advance(EWMA_DECAY_MS);
    stats.observe(10);
    assert.equal(Math.round(stats.ewmaMs * 1000) / 1000, Math.round((100 * Math.exp(-1) + 10 * (1 - Math.exp(-1))) * 1000) / 1000);
    stats.inflight = 3;
    assert.equal(stats.cost(), stats.ewmaMs * 4);
  });
});

describe('PowerOfTwoBalancer', () => {
  it('sends (almost) everything to the cheaper endpoint by EWMA', () => {
    const clock = new FakeClock();
    const fast = endpoint('fast', clock);
    const slow = endpoint('slow', clock);
    fast.stats.observe(2);
    slow.stats.observe(200);
    const lb = new PowerOfTwoBalancer([fast, slow], peakEwmaCost, new SeededRandom(5));
    const picks = { fast: 0, slow: 0 };
    for (let i = 0; i < 1000; i++) picks[lb.pick()!.name as 'fast' | 'slow']++;
    assert.deepEqual(picks, { fast: 1000, slow: 0 }, 'with two endpoints both are always drawn');
  });

  it('least-request prefers fewer in flight, and spreads among equals', () => {
    const clock = new FakeClock();
    const eps = ['a', 'b', 'c'].map((n) => endpoint(n, clock));
    eps[0]!.stats.inflight = 10;
    const lb = new PowerOfTwoBalancer(eps, leastRequestCost, new SeededRandom(9));
    const picks: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 3000; i++) picks[lb.pick()!.name]!++;
    assert.equal(picks.a, 0, 'the busy endpoint loses every comparison it is drawn into');
    assert.ok(picks.b! > 1000 && picks.c! > 1000, JSON.stringify(picks));
  });

  it('skips unavailable endpoints and avoids the previous one when it can', () => {
    const clock = new FakeClock();
    const [a, b, c] = [endpoint('a', clock), endpoint('b', clock, false), endpoint('c', clock)];
    const lb = new PowerOfTwoBalancer([a!, b!, c!], leastRequestCost, new SeededRandom(1));
    for (let i = 0; i < 100; i++) assert.notEqual(lb.pick()!.name, 'b');
    for (let i = 0; i < 100; i++) assert.equal(lb.pick(a)!.name, 'c');
    const lone = new PowerOfTwoBalancer([a!], leastRequestCost, new SeededRandom(1));
    assert.equal(lone.pick(a)!.name, 'a', 'the only endpoint is used again');
    assert.equal(new PowerOfTwoBalancer([b!], leastRequestCost, new SeededRandom(1)).pick(), undefined);
  });
});
