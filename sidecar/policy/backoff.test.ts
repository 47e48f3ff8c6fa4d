import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.ts';
import { SeededRandom } from './clock.ts';

const seq = (b: Backoff, n: number) => Array.from({ length: n }, (_, i) => b.delay(i + 1));

describe('Backoff', () => {
  it('fixed waits base every time', () => {
    assert.deepEqual(seq(new Backoff('fixed', 100, 2000, new SeededRandom(1)), 4), [100, 100, 100, 100]);
  });

  it('exponential doubles up to max', () => {
    assert.deepEqual(seq(new Backoff('exponential', 100, 2000, new SeededRandom(1)), 7), [100, 200, 400, 800, 1600, 2000, 2000]);
  });

  it('exponential-jitter draws uniformly below the exponential ceiling (full jitter), exactly per seed', () => {
    const delays = seq(new Backoff('exponential-jitter', 100, 2000, new SeededRandom(42)), 7);
    assert.deepEqual(delays, [60, 89, 340, 535, 279, 1053, 546]);
    const r = new SeededRandom(42);
    const ceilings = [100, 200, 400, 800, 1600, 2000, 2000];
    assert.deepEqual(delays, ceilings.map((c) => Math.floor(r.next() * c)), 'each delay is floor(random x ceiling)');
  });

  it('the same seed gives the same sequence; another seed another one', () => {
    const a = seq(new Backoff('exponential-jitter', 25, 250, new SeededRandom(7)), 5);
    assert.deepEqual(seq(new Backoff('exponential-jitter', 25, 250, new SeededRandom(7)), 5), a);
    assert.notDeepEqual(seq(new Backoff('exponential-jitter', 25, 250, new SeededRandom(8)), 5), a);
  });
});
