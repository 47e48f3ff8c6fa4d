// The routing compiler apart from precedence: which Services a route attaches to, rule names and
// sources, backends and weights, what leaves a rule unresolved, and the mapping of filters, timeouts
// and retry onto Petrel's wire shapes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpRouteParentRef, HttpRouteRule } from '../../api/types.ts';
import { CROSS_NAMESPACE_REFUSAL } from './backends.ts';
import { compileRouting } from './compile.ts';
import type { StoredHttpRoute } from './stored-route.ts';

const svc = (name: string, extra: Partial<HttpRouteParentRef> = {}): HttpRouteParentRef => ({ group: '', kind: 'Service', name, ...extra });
const route = (name: string, parentRefs: HttpRouteParentRef[], rules: HttpRouteRule[], namespace = 'shop'): StoredHttpRoute =>
  ({ kind: 'HTTPRoute', key: `${namespace}/${name}`, namespace, name, origin: 'test', spec: { parentRefs, rules } });
const one = (rule: HttpRouteRule, services: { name: string; namespace: string; port?: number }[] = []) => {
  const warnings: string[] = [];
  const r = compileRouting([route('r', [svc('payments')], [rule])], services, 80, (w) => warnings.push(w)).get('payments.shop')!;
  return { rule: r.rules[0]!, warnings };
};

describe('route attachment', () => {
  it('attaches to every Service its parentRefs name, with or without endpoints, keyed name.namespace', () => {
    const warnings: string[] = [];
    const out = compileRouting([route('r', [svc('payments'), svc('cart', { port: 80 }), svc('payments')], [{ backendRefs: [{ name: 'payments-v2' }] }])], [], 80, (w) => warnings.push(w));
    assert.deepEqual([...out.keys()], ['cart.shop', 'payments.shop']);
    assert.equal(out.get('payments.shop')!.rules.length, 1, 'a repeated parentRef attaches once');
    assert.deepEqual(warnings, []);
  });

  it('does not attach to another namespace, another kind, a Gateway by default, another port or a sectionName', () => {
    const warnings: string[] = [];
    const out = compileRouting([route('r', [
      svc('payments', { namespace: 'billing' }),
      { name: 'payments' },
      { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' },
      svc('payments', { port: 8080 }),
      svc('payments', { sectionName: 'http' }),
      svc('ledger', { namespace: 'shop' }),
    ], [{ backendRefs: [{ name: 'ledger' }] }])], [], 80, (w) => warnings.push(w));
    assert.deepEqual([...out.keys()], ['ledger.shop']);
    assert.equal(warnings.length, 5);
    assert.match(warnings[0]!, /HTTPRoute shop\/r: spec\.parentRefs\[0\]: a Service in another namespace/);
    assert.match(warnings[3]!, /port 8080/);
  });

  it("uses a Service's own port when the registry knows one", () => {
    const out = compileRouting([route('r', [svc('payments', { port: 8080 })], [{ backendRefs: [{ name: 'payments', port: 8080 }] }])], [{ name: 'payments', namespace: 'shop', port: 8080 }]);
    assert.deepEqual(out.get('payments.shop')!.rules[0]!.backends, [{ service: 'payments', namespace: 'shop', weight: 1 }]);
  });

  it('merges the rules of several routes on one Service, matches pointing at the right rule', () => {
    const out = compileRouting([
      route('b', [svc('payments')], [{ matches: [{ path: { type: 'Exact', value: '/b' } }], backendRefs: [{ name: 'b' }] }]),
      route('a', [svc('payments')], [{ matches: [{ path: { type: 'PathPrefix', value: '/a' } }], backendRefs: [{ name: 'a' }] }]),
    ], []).get('payments.shop')!;
    assert.deepEqual(out.rules.map((r) => r.source), ['HTTPRoute shop/a rule 0', 'HTTPRoute shop/b rule 0']);
    assert.deepEqual(out.matches.map((m) => out.rules[m.rule]!.backends[0]!.service), ['b', 'a']);
  });
});

describe('rules', () => {
  it('are named by GEP-995 name, else "<route>.<index>"', () => {
    const out = compileRouting([route('pay', [svc('payments')], [{ name: 'canary', backendRefs: [{ name: 'a' }] }, { backendRefs: [{ name: 'a' }] }])], []).get('payments.shop')!;
    assert.deepEqual(out.rules.map((r) => [r.name, r.source]), [['canary', 'HTTPRoute shop/pay rule 0'], ['pay.1', 'HTTPRoute shop/pay rule 1']]);
  });

  it('list weighted backends, weight 1 by default, 0 kept, unknown Services kept', () => {
    const { rule } = one({ backendRefs: [{ name: 'v1', weight: 90 }, { name: 'v2', port: 80, weight: 10 }, { name: 'v3', group: '', kind: 'Service' }, { name: 'off', weight: 0 }] });
    assert.deepEqual(rule.backends, [
      { service: 'v1', namespace: 'shop', weight: 90 },
      { service: 'v2', namespace: 'shop', weight: 10 },
      { service: 'v3', namespace: 'shop', weight: 1 },
      { service: 'off', namespace: 'shop', weight: 0 },
    ]);
    assert.equal(rule.unresolved, undefined);
  });

  it('keep their valid backends and carry the invalid ones\' weight apart (their share answers 500)', () => {
    const { rule } = one({ backendRefs: [{ name: 'v1', weight: 3 }, { name: 'bucket', group: 'storage.example.com', kind: 'Bucket', weight: 1 }, { name: 'v2', namespace: 'billing' }] });
    assert.deepEqual(rule.backends, [{ service: 'v1', namespace: 'shop', weight: 3 }]);
    assert.equal(rule.unresolved, undefined);
    assert.equal(rule.invalid?.weight, 2);
    assert.match(rule.invalid?.why ?? '', /backendRef bucket: storage\.example\.com\/Bucket is not supported \(only Services\); backendRef billing\/v2: /);
    assert.equal(one({ backendRefs: [{ name: 'v1' }, { name: 'bucket', group: 'x.io', kind: 'Bucket', weight: 0 }] }).rule.invalid, undefined, 'an invalid backend of weight 0 takes nothing');
  });

  it('are unresolved, with no backends, for another kind, another namespace, another port, or no backendRefs', () => {
    const cases: [HttpRouteRule['backendRefs'], RegExp][] = [
      [[{ name: 'v1', weight: 0 }, { name: 'bucket', group: 'storage.example.com', kind: 'Bucket' }], /backendRef bucket: storage\.example\.com\/Bucket is not supported \(only Services\)/],
      [[{ name: 'v1', namespace: 'billing' }], new RegExp(`backendRef billing/v1: ${CROSS_NAMESPACE_REFUSAL}`)],
      [[{ name: 'v1', port: 8080 }], /backendRef v1: port 8080 is not a port of the Service \(80\)/],
      [[], /no backendRefs/],
      [undefined, /no backendRefs/],
    ];
    for (const [backendRefs, why] of cases) {
      const { rule } = one({ backendRefs });
      assert.deepEqual(rule.backends, []);
      assert.match(rule.unresolved ?? '', why);
    }
    assert.equal(one({ backendRefs: [{ name: 'v1', namespace: 'shop' }] }).rule.unresolved, undefined, 'its own namespace, written out');
  });

  it('that redirect need no backend and are never unresolved', () => {
    const { rule, warnings } = one({ filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'example.com' } }] });
    assert.deepEqual(rule, { name: 'r.0', source: 'HTTPRoute shop/r rule 0', backends: [], filters: { redirect: { hostname: 'example.com', statusCode: 302 } } });
    assert.deepEqual(warnings, []);
  });
});

describe('filters, timeouts and retry', () => {
  it('compiles every filter kind in a fixed key order', () => {
    const { rule } = one({
      backendRefs: [{ name: 'v1' }],
      filters: [
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' } } },
        { type: 'URLRewrite', urlRewrite: { hostname: 'internal', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['server'] } },
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'half' }, percent: 50 } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'tenth' }, fraction: { numerator: 1, denominator: 10 } } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'pct' }, fraction: { numerator: 5 } } },
      ],
    });
    assert.equal(JSON.stringify(rule.filters), JSON.stringify({
      requestHeaders: { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] },
      responseHeaders: { remove: ['server'] },
      rewrite: { hostname: 'internal', path: { type: 'ReplacePrefixMatch', value: '/v2' } },
      mirror: [
        { service: 'shadow', namespace: 'shop', percent: 100 },
        { service: 'half', namespace: 'shop', percent: 50 },
        { service: 'tenth', namespace: 'shop', percent: 10 },
        { service: 'pct', namespace: 'shop', percent: 5 },
      ],
    }));
  });

  it('compiles a redirect with every field, and the default status 302', () => {
    const { rule } = one({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'h', path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, port: 8443, statusCode: 301 } }] });
    assert.deepEqual(rule.filters, { redirect: { scheme: 'https', hostname: 'h', path: { type: 'ReplaceFullPath', value: '/new' }, port: 8443, statusCode: 301 } });
  });

  it('drops a mirror to a backend it cannot resolve, with a warning, and keeps the rule', () => {
    const { rule, warnings } = one({ backendRefs: [{ name: 'v1' }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'other' } } }] });
    assert.equal(rule.filters, undefined);
    assert.equal(rule.unresolved, undefined);
    assert.match(warnings[0]!, /HTTPRoute shop\/r rule 0: RequestMirror backendRef other\/shadow: cross-namespace/);
  });

  it('maps timeouts: request -> total, backendRequest -> perTry, "0s" kept (it overrides the Service\'s timeout with none)', () => {
    assert.deepEqual(one({ backendRefs: [{ name: 'v1' }], timeouts: { request: '10s', backendRequest: '2s' } }).rule.timeout, { perTry: '2s', total: '10s' });
    assert.deepEqual(one({ backendRefs: [{ name: 'v1' }], timeouts: { request: '0s', backendRequest: '500ms' } }).rule.timeout, { perTry: '500ms', total: '0s' });
    assert.deepEqual(one({ backendRefs: [{ name: 'v1' }], timeouts: { request: '0s' } }).rule.timeout, { total: '0s' });
  });

  it('maps retry (GEP-1731): attempts + 1, codes as strings, backoff as the jittered base', () => {
    assert.deepEqual(one({ backendRefs: [{ name: 'v1' }], retry: { attempts: 2, codes: [503, 502], backoff: '100ms' } }).rule.retry, {
      attempts: 3, on: ['503', '502'], backoff: { strategy: 'exponential-jitter', base: '100ms' },
    });
    assert.deepEqual(one({ backendRefs: [{ name: 'v1' }], retry: { attempts: 0 } }).rule.retry, { attempts: 1 });
    assert.equal(one({ backendRefs: [{ name: 'v1' }], retry: {} }).rule.retry, undefined);
  });
});
