// Precedence of HTTPRoute matches, case by case from the Gateway API HTTPRouteRule documentation:
// Exact over PathPrefix, longer prefix first, method, header count, query count, then the oldest
// route, the route first by "namespace/name", rule order and match order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HttpRouteRule } from '../../api/types.ts';
import { compileRouting } from './compile.ts';
import type { StoredHttpRoute } from './stored-route.ts';

const svc = { group: '', kind: 'Service', name: 'payments' };
const route = (name: string, rules: HttpRouteRule[], creationTimestamp?: string, namespace = 'shop'): StoredHttpRoute => ({
  kind: 'HTTPRoute', key: `${namespace}/${name}`, namespace, name, origin: 'test',
  spec: { parentRefs: [svc], rules }, ...(creationTimestamp ? { creationTimestamp } : {}),
});
const to = (name: string): HttpRouteRule['backendRefs'] => [{ name }];
/** Rule names in the order their matches come out. */
const order = (routes: StoredHttpRoute[]): string[] => {
  const r = compileRouting(routes, []).get('payments.shop')!;
  return r.matches.map((m) => r.rules[m.rule]!.name);
};

describe('routing precedence', () => {
  it('an Exact path comes before any PathPrefix, even a longer one', () => {
    assert.deepEqual(order([route('r', [
      { name: 'prefix', matches: [{ path: { type: 'PathPrefix', value: '/v1/payments/long' } }], backendRefs: to('a') },
      { name: 'exact', matches: [{ path: { type: 'Exact', value: '/v1' } }], backendRefs: to('b') },
    ])]), ['exact', 'prefix']);
  });

  it('a longer PathPrefix comes first, whatever the rule order', () => {
    assert.deepEqual(order([route('r', [
      { name: 'root', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: to('a') },
      { name: 'v1', matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: to('a') },
      { name: 'v1-pay', matches: [{ path: { type: 'PathPrefix', value: '/v1/pay' } }], backendRefs: to('a') },
    ])]), ['v1-pay', 'v1', 'root']);
  });

  it('with equal paths, a method match comes before header matches', () => {
    assert.deepEqual(order([route('r', [
      { name: 'headers', matches: [{ headers: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }], backendRefs: to('a') },
      { name: 'method', matches: [{ method: 'GET' }], backendRefs: to('a') },
    ])]), ['method', 'headers']);
  });

  it('then the most header matches, then the most query param matches', () => {
    assert.deepEqual(order([route('r', [
      { name: 'query2', matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }], backendRefs: to('a') },
      { name: 'header1', matches: [{ headers: [{ name: 'a', value: '1' }] }], backendRefs: to('a') },
      { name: 'header2', matches: [{ headers: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }], backendRefs: to('a') },
      { name: 'query1', matches: [{ queryParams: [{ name: 'a', value: '1' }] }], backendRefs: to('a') },
      { name: 'plain', backendRefs: to('a') },
    ])]), ['header2', 'header1', 'query2', 'query1', 'plain']);
  });

  it('path beats method beats headers beats query params', () => {
    assert.deepEqual(order([route('r', [
      { name: 'query', matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }, { name: 'c', value: '3' }] }], backendRefs: to('a') },
      { name: 'header', matches: [{ headers: [{ name: 'a', value: '1' }], queryParams: [] }], backendRefs: to('a') },
      { name: 'method', matches: [{ method: 'POST' }], backendRefs: to('a') },
      { name: 'path', matches: [{ path: { type: 'PathPrefix', value: '/x' } }], backendRefs: to('a') },
    ])]), ['path', 'method', 'header', 'query']);
  });

  it('across routes, ties go to the oldest route, then to "namespace/name" order', () => {
    const rule = (name: string): HttpRouteRule[] => [{ name, matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: to('a') }];
    assert.deepEqual(order([
      route('a-new', rule('a-new'), '2026-01-02T00:00:00Z'),
      route('z-old', rule('z-old'), '2026-01-01T00:00:00Z'),
      route('b-unknown', rule('b-unknown')),
      route('a-unknown', rule('a-unknown')),
    ]), ['z-old', 'a-new', 'a-unknown', 'b-unknown']);
  });

  it('within a route, ties go to the first rule, then to the first match of the rule', () => {
    assert.deepEqual(compileRouting([route('r', [
      { name: 'first', matches: [{ path: { type: 'PathPrefix', value: '/a' } }, { path: { type: 'PathPrefix', value: '/b' } }], backendRefs: to('a') },
      { name: 'second', matches: [{ path: { type: 'PathPrefix', value: '/c' } }], backendRefs: to('a') },
    ])], []).get('payments.shop')!.matches, [
      { match: { path: { type: 'PathPrefix', value: '/a' } }, rule: 0 },
      { match: { path: { type: 'PathPrefix', value: '/b' } }, rule: 0 },
      { match: { path: { type: 'PathPrefix', value: '/c' } }, rule: 1 },
    ]);
  });

  it('a rule without matches, or a match without a path, has the implicit PathPrefix "/"', () => {
    const r = compileRouting([route('r', [{ backendRefs: to('a') }, { matches: [{ method: 'GET' }, { path: { value: '/p' } }], backendRefs: to('a') }])], []).get('payments.shop')!;
    assert.deepEqual(r.matches, [
      { match: { path: { type: 'PathPrefix', value: '/p' } }, rule: 1 },
      { match: { path: { type: 'PathPrefix', value: '/' }, method: 'GET' }, rule: 1 },
      { match: { path: { type: 'PathPrefix', value: '/' } }, rule: 0 },
    ]);
  });

  it('the same routes in another order compile to the same JSON', () => {
    const routes = [
      route('b', [{ matches: [{ path: { type: 'Exact', value: '/x' } }], backendRefs: to('a') }]),
      route('a', [{ matches: [{ path: { type: 'Exact', value: '/x' } }], backendRefs: to('b') }, { backendRefs: to('c') }], '2026-01-01T00:00:00Z'),
      route('c', [{ matches: [{ headers: [{ name: 'h', value: 'v' }] }], backendRefs: to('d') }]),
    ];
    const json = (list: StoredHttpRoute[]) => JSON.stringify([...compileRouting(list, [])]);
    assert.equal(json(routes), json([...routes].reverse()));
    assert.equal(json(routes), json([routes[1]!, routes[2]!, routes[0]!]));
  });
});
