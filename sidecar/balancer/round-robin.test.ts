import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Endpoint } from '../upstream/endpoint.ts';
import { RoundRobinBalancer } from './round-robin.ts';

const ep = (name: string, up = true) => ({ name, available: () => up }) as Endpoint;

describe('RoundRobinBalancer', () => {
  it('cycles through endpoints', () => {
    const [a, b, c] = [ep('a'), ep('b'), ep('c')];
    const lb = new RoundRobinBalancer([a, b, c]);
    assert.deepEqual([1, 2, 3, 4].map(() => lb.pick()?.name), ['a', 'b', 'c', 'a']);
  });

  it('avoids the endpoint it is asked to avoid when another exists', () => {
    const [a, b] = [ep('a'), ep('b')];
    const lb = new RoundRobinBalancer([a, b]);
    assert.equal(lb.pick(a)?.name, 'b');
    assert.equal(new RoundRobinBalancer([a]).pick(a)?.name, 'a');
    assert.equal(new RoundRobinBalancer([]).pick(), undefined);
  });

  it('skips endpoints whose circuit is open', () => {
    const lb = new RoundRobinBalancer([ep('a', false), ep('b'), ep('c', false)]);
    assert.deepEqual([1, 2, 3].map(() => lb.pick()?.name), ['b', 'b', 'b']);
    assert.equal(new RoundRobinBalancer([ep('a', false)]).pick(), undefined);
  });
});
