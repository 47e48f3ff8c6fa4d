// GRPCRoute compiled into a Service's routing: service/method become path matches, the GRPCRoute
// precedence orders them, rules keep names, backends and filters, and a Service with both kinds of
// route is routed by its GRPCRoutes only (GEP-1294).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GrpcRouteRule, HttpRouteParentRef } from '../../api/types.ts';
import { compileRouting } from './compile.ts';
import { normalizeGrpcMatch } from './precedence.ts';
import type { StoredGrpcRoute, StoredHttpRoute } from './stored-route.ts';

const svc = (name: string): HttpRouteParentRef => ({ group: '', kind: 'Service', name, port: 80 });
const grpc = (name: string, rules: GrpcRouteRule[], extra: Partial<StoredGrpcRoute> = {}): StoredGrpcRoute =>
  ({ kind: 'GRPCRoute', key: `shop/${name}`, namespace: 'shop', name, origin: 'test', spec: { parentRefs: [svc('echo')], rules }, ...extra });
const to = (name: string, weight?: number) => [{ name, port: 80, ...(weight === undefined ? {} : { weight }) }];

describe('GRPCRoute matches as path matches', () => {
  it('service and method: Exact /<service>/<method>; service: PathPrefix /<service>; none: PathPrefix /; headers kept; no method match', () => {
    assert.deepEqual(normalizeGrpcMatch({ method: { type: 'Exact', service: 'petrel.test.Echo', method: 'Unary' } }), { path: { type: 'Exact', value: '/petrel.test.Echo/Unary' } });
    assert.deepEqual(normalizeGrpcMatch({ method: { service: 'petrel.test.Echo' }, headers: [{ type: 'Exact', name: 'x-v', value: '2' }] }),
      { path: { type: 'PathPrefix', value: '/petrel.test.Echo' }, headers: [{ name: 'x-v', value: '2' }] });
    assert.deepEqual(normalizeGrpcMatch({ headers: [{ name: 'x-v', value: '2' }] }), { path: { type: 'PathPrefix', value: '/' }, headers: [{ name: 'x-v', value: '2' }] });
    assert.deepEqual(normalizeGrpcMatch(undefined), { path: { type: 'PathPrefix', value: '/' } });
    assert.equal(normalizeGrpcMatch({ method: { method: 'Unary' } }), undefined, 'a method alone is not one path match');
  });

  it('a method match without service (refused by validation) is left out with a warning', () => {
    const warnings: string[] = [];
    const r = compileRouting([grpc('g', [{ matches: [{ method: { method: 'Unary' } }, { method: { service: 's.S' } }], backendRefs: to('a') }])], [], 80, (w) => warnings.push(w)).get('echo.shop')!;
    assert.deepEqual(r.matches, [{ match: { path: { type: 'PathPrefix', value: '/s.S' } }, rule: 0 }]);
    assert.deepEqual(warnings, ['GRPCRoute shop/g rule 0: matches[0]: a method match without service is not supported yet; left out']);
  });
});

describe('GRPCRoute precedence (GRPCRouteRule.matches)', () => {
  it('most service characters, then most method characters, then most header matches, then the oldest route, name, rule order', () => {
    const routes = [
      grpc('b', [
        { name: 'any', backendRefs: to('a') },
        { name: 'headers', matches: [{ headers: [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '1' }] }], backendRefs: to('a') },
        { name: 'service', matches: [{ method: { service: 'pkg.Echo' } }], backendRefs: to('a') },
        { name: 'service-header', matches: [{ method: { service: 'pkg.Echo' }, headers: [{ name: 'x-a', value: '1' }] }], backendRefs: to('a') },
        { name: 'method', matches: [{ method: { service: 'pkg.Echo', method: 'Unary' } }], backendRefs: to('a') },
        { name: 'long-method', matches: [{ method: { service: 'pkg.Echo', method: 'ServerStream' } }], backendRefs: to('a') },
        { name: 'long-service', matches: [{ method: { service: 'pkg.EchoLonger' } }], backendRefs: to('a') },
      ]),
      // Same match as b's "method", but older: first among equals.
      grpc('z', [{ name: 'old', matches: [{ method: { service: 'pkg.Echo', method: 'Unary' } }], backendRefs: to('a') }], { creationTimestamp: '2020-01-01T00:00:00Z' }),
    ];
    const r = compileRouting(routes, []).get('echo.shop')!;
    const order = r.matches.map((m) => r.rules[m.rule]!.name);
    assert.deepEqual(order, ['long-service', 'long-method', 'old', 'method', 'service-header', 'service', 'headers', 'any']);
    // Rules are listed oldest route first: z's rule, then b's in order.
    assert.deepEqual(r.rules.map((x) => x.source), ['GRPCRoute shop/z rule 0', ...Array.from({ length: 7 }, (_, i) => `GRPCRoute shop/b rule ${i}`)]);
  });
});

describe('GRPCRoute rules', () => {
  it('names, weighted backends, header filters and mirrors; an unresolvable backend leaves the rule unresolved (UNAVAILABLE at the sidecar)', () => {
    const r = compileRouting([grpc('g', [
      {
        name: 'split',
        matches: [{ method: { service: 'pkg.Echo', method: 'Unary' } }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-r', value: '1' }] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['x-s'] } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, percent: 5 } },
        ],
        backendRefs: [{ name: 'a', port: 80, weight: 70 }, { name: 'b', port: 80, weight: 30 }],
      },
      { backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'x' }] },
    ])], []).get('echo.shop')!;
    assert.deepEqual(r.rules[0], {
      name: 'split',
      source: 'GRPCRoute shop/g rule 0',
      backends: [{ service: 'a', namespace: 'shop', weight: 70 }, { service: 'b', namespace: 'shop', weight: 30 }],
      filters: { requestHeaders: { set: [{ name: 'x-r', value: '1' }] }, responseHeaders: { remove: ['x-s'] }, mirror: [{ service: 'shadow', namespace: 'shop', percent: 5 }] },
    });
    assert.equal(r.rules[1]!.name, 'g.1');
    assert.deepEqual(r.rules[1]!.backends, []);
    assert.match(r.rules[1]!.unresolved ?? '', /example\.com\/Bucket is not supported/);
  });
});

describe('HTTPRoute and GRPCRoute on one Service (GEP-1294)', () => {
  const http = (name: string, parents: string[]): StoredHttpRoute =>
    ({ kind: 'HTTPRoute', key: `shop/${name}`, namespace: 'shop', name, origin: 'test', spec: { parentRefs: parents.map(svc), rules: [{ backendRefs: to('h') }] }, creationTimestamp: '2000-01-01T00:00:00Z' });

  it('the GRPCRoutes route the Service, even against an older HTTPRoute; the HTTPRoute still routes its other parents', () => {
    const warnings: string[] = [];
    const out = compileRouting([http('web', ['echo', 'other']), grpc('g', [{ backendRefs: to('a') }])], [], 80, (w) => warnings.push(w));
    assert.deepEqual(out.get('echo.shop')!.rules.map((r) => r.source), ['GRPCRoute shop/g rule 0']);
    assert.deepEqual(out.get('other.shop')!.rules.map((r) => r.source), ['HTTPRoute shop/web rule 0']);
    assert.deepEqual(warnings, ['HTTPRoute shop/web: not applied to Service shop/echo, which has GRPCRoutes: a Service and port is routed by one route type, GRPCRoute first (GEP-1294, Conflicted)']);
  });

  it('the same inputs in any order give the same routing', () => {
    const list = [http('web', ['echo']), grpc('g', [{ matches: [{ method: { service: 's.S' } }], backendRefs: to('a') }]), grpc('f', [{ backendRefs: to('b') }])];
    const json = (l: typeof list) => JSON.stringify([...compileRouting(l, [])]);
    assert.equal(json(list), json([...list].reverse()));
  });
});
