// Weighted backendRefs: over 1,000 picks the split stays inside a binomial bound (4 standard
// deviations: a correct picker leaves it about once in 16,000 runs; the seeded source makes it exact
// here), weight 0 gets nothing, and a retry still goes through the weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SeededRandom } from '../policy/clock.ts';
import type { CallTarget } from './call-target.ts';
import { WeightedCallTarget } from './weighted-call-target.ts';
import type { Destination } from '../upstream/endpoint.ts';

const backend = (label: string): CallTarget => ({ next: () => ({ label } as unknown as Destination) });

function split(weights: number[], n: number, seed: number): Map<string, number> {
  const target = new WeightedCallTarget(weights.map((w, i) => ({ target: backend(`b${i}`), weight: w })), new SeededRandom(seed));
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const d = target.next(undefined) as Destination;
    counts.set(d.label, (counts.get(d.label) ?? 0) + 1);
  }
  return counts;
}

test('an 80/20 split over 1,000 calls stays within 4 standard deviations of 800/200', () => {
  for (const seed of [1, 2, 3, 42, 1234]) {
    const counts = split([80, 20], 1000, seed);
    const sigma = Math.sqrt(1000 * 0.8 * 0.2);
    const v1 = counts.get('b0') ?? 0;
    assert.ok(Math.abs(v1 - 800) <= 4 * sigma, `seed ${seed}: ${v1} of 1000 to the 80-weight backend`);
    assert.equal(v1 + (counts.get('b1') ?? 0), 1000);
  }
});

test('weight 0 gets no call; three backends follow their weights', () => {
  const counts = split([1, 0, 3], 4000, 7);
  assert.equal(counts.get('b1'), undefined);
  const sigma = Math.sqrt(4000 * 0.25 * 0.75);
  assert.ok(Math.abs((counts.get('b0') ?? 0) - 1000) <= 4 * sigma);
});

test('an invalid backendRef takes its share of first attempts (500 NC) and none of the retries', async () => {
  const { FailingCallTarget } = await import('./call-target.ts');
  const { ProxyError } = await import('../proxy/flags.ts');
  const invalid = new FailingCallTarget(new ProxyError('NC', 'backendRef bucket: not a Service'));
  const target = new WeightedCallTarget([{ target: backend('valid'), weight: 1 }, { target: invalid, weight: 1 }], new SeededRandom(9));
  let failed = 0;
  for (let i = 0; i < 1000; i++) if (target.next(undefined) instanceof ProxyError) failed++;
  assert.ok(Math.abs(failed - 500) <= 4 * Math.sqrt(1000 * 0.25), `${failed} of 1000 first attempts drew the invalid share`);
  const previous = {} as unknown as Parameters<CallTarget['next']>[0];
  for (let i = 0; i < 1000; i++) assert.equal((target.next(previous) as Destination).label, 'valid', 'a retry never draws the invalid share');
});
