// ResiliencePolicies merged in precedence order with the source of every value: namespace default <
// Service < route < the rule's own fields < rule (sectionName), field by field; the first policy by
// key wins a target, and policies naming a route or rule that does not exist are reported.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpRouteSpec, ResiliencePolicySpec } from '../api/types.ts';
import { PolicyIndex } from './policy-index.ts';
import type { StoredPolicy } from './policy.ts';
import { compileRouting } from './routing/compile.ts';

const policy = (name: string, spec: ResiliencePolicySpec, origin = `${name}.yaml (document 1)`): StoredPolicy =>
  ({ kind: 'ResiliencePolicy', key: `shop/${name}`, namespace: 'shop', name, origin, spec });
const route = (name: string, spec: HttpRouteSpec) =>
  ({ kind: 'HTTPRoute' as const, key: `shop/${name}`, namespace: 'shop', name, origin: `${name}.yaml (document 1)`, spec });
const onRoute = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' as const, name: 'orders' };

const orders = route('orders', {
  parentRefs: [{ group: '', kind: 'Service', name: 'orders' }],
  rules: [
    { name: 'writes', matches: [{ path: { type: 'PathPrefix', value: '/write' } }], backendRefs: [{ name: 'orders' }], timeouts: { request: '3s' }, retry: { attempts: 1 } },
    { name: 'reads', matches: [{ path: { type: 'PathPrefix', value: '/read' } }], backendRefs: [{ name: 'orders' }] },
    { matches: [{ path: { type: 'PathPrefix', value: '/other' } }], backendRefs: [{ name: 'orders' }] },
  ],
});

describe('PolicyIndex: precedence and sources', () => {
  const index = new PolicyIndex([
    policy('defaults', { timeout: { connect: '2s', total: '10s' }, retry: { attempts: 2, budget: { ratio: 0.1 } } }),
    policy('orders', { targetRef: { kind: 'Service', name: 'orders' }, timeout: { total: '5s' }, retry: { backoff: { base: '50ms' } }, circuitBreaker: { consecutiveFailures: 3 } }),
    policy('orders-route', { targetRef: onRoute, timeout: { perTry: '1s' }, rateLimit: { requestsPerSecond: 100 } }),
    policy('orders-writes', { targetRef: { ...onRoute, sectionName: 'writes' }, retry: { attempts: 5, on: ['gateway-error'] } }),
    policy('zz-orders-writes-again', { targetRef: { ...onRoute, sectionName: 'writes' }, retry: { attempts: 9 } }),
    policy('typo', { targetRef: { ...onRoute, sectionName: 'wrties' }, retry: { attempts: 9 } }),
    policy('gone', { targetRef: { ...onRoute, name: 'gone' }, retry: { attempts: 9 } }),
  ]);
  const routing = compileRouting([orders], [], undefined, () => {}, index).get('orders.shop')!;
  const rule = (name: string) => routing.rules.find((r) => r.name === name)!;

  it('a service: its own fields over the namespace default\'s, each with its policy as the source', () => {
    const sourced = index.sourcedPolicyFor('orders', 'shop')!;
    assert.deepEqual(sourced.policy, {
      timeout: { connect: '2s', total: '5s' },
      retry: { attempts: 2, budget: { ratio: 0.1 }, backoff: { base: '50ms' } },
      circuitBreaker: { consecutiveFailures: 3 },
    });
    assert.deepEqual(sourced.sources, {
      'circuitBreaker.consecutiveFailures': 'ResiliencePolicy shop/orders in orders.yaml (document 1)',
      'retry.attempts': 'ResiliencePolicy shop/defaults in defaults.yaml (document 1) (namespace default)',
      'retry.backoff.base': 'ResiliencePolicy shop/orders in orders.yaml (document 1)',
      'retry.budget.ratio': 'ResiliencePolicy shop/defaults in defaults.yaml (document 1) (namespace default)',
      'timeout.connect': 'ResiliencePolicy shop/defaults in defaults.yaml (document 1) (namespace default)',
      'timeout.total': 'ResiliencePolicy shop/orders in orders.yaml (document 1)',
    });
  });

  it('a targeted rule: rule policy > the rule\'s own fields > route policy, with sources', () => {
    const writes = rule('writes');
    assert.deepEqual(writes.timeout, { perTry: '1s', total: '3s' });
    assert.deepEqual(writes.retry, { attempts: 5, on: ['gateway-error'] });
    assert.deepEqual(writes.rateLimit, { requestsPerSecond: 100 });
    assert.deepEqual(writes.sources, {
      rateLimit: 'ResiliencePolicy shop/orders-route in orders-route.yaml (document 1)',
      'retry.attempts': 'ResiliencePolicy shop/orders-writes in orders-writes.yaml (document 1)',
      'retry.on': 'ResiliencePolicy shop/orders-writes in orders-writes.yaml (document 1)',
      'timeout.perTry': 'ResiliencePolicy shop/orders-route in orders-route.yaml (document 1)',
      'timeout.total': 'HTTPRoute shop/orders rule writes',
    });
  });

  it('the route policy reaches every rule, named or not; an untargeted rule has no rule layer', () => {
    assert.deepEqual(rule('reads').timeout, { perTry: '1s' });
    assert.equal(rule('reads').retry, undefined);
    assert.deepEqual(rule('orders.2').rateLimit, { requestsPerSecond: 100 });
  });

  it('without a policy on the route, a rule carries no sources: the rule itself is the source', () => {
    const bare = compileRouting([orders], [], undefined, () => {}, new PolicyIndex([])).get('orders.shop')!;
    assert.deepEqual(bare.rules[0]!.timeout, { total: '3s' });
    assert.equal(bare.rules[0]!.sources, undefined);
  });

  it('two policies on one rule: the first by key wins and the other is reported', () => {
    assert.deepEqual(index.warnings, ['ResiliencePolicy shop/zz-orders-writes-again in zz-orders-writes-again.yaml (document 1): left out: ResiliencePolicy shop/orders-writes in orders-writes.yaml (document 1) targets the same HTTPRoute orders rule writes (the first by namespace/name wins)']);
  });

  it('reports a sectionName that names no rule and a route that does not exist', () => {
    assert.deepEqual(index.targetsNamingNothing([orders]), [
      'ResiliencePolicy shop/gone in gone.yaml (document 1): targets HTTPRoute shop/gone, which does not exist; it applies to nothing until it does',
      'ResiliencePolicy shop/typo in typo.yaml (document 1): HTTPRoute shop/orders has no rule named "wrties" (sectionName names a rule\'s name); it applies to nothing',
    ]);
  });

  it('a route target never counts as a Service of the same name', () => {
    assert.equal(index.sourcedPolicyFor('orders-route', 'shop')?.policy.rateLimit, undefined);
    assert.deepEqual(index.policyFor('gone', 'shop'), { timeout: { connect: '2s', total: '10s' }, retry: { attempts: 2, budget: { ratio: 0.1 } } });
  });
});
