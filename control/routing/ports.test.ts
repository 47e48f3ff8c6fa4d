// Service ports through the control plane: a route attaches to every port of a Service unless its
// parentRef names one (by port or sectionName), a backendRef's port picks that port's endpoints,
// GEP-1294 holds per port; the registry groups local registrations by --service-port; EndpointSlice
// ports are matched to Service ports by name; the snapshot lists `ports` and ClusterIPs only where a
// Service has several ports or addresses, and validates them on arrival.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type * as k8s from '@kubernetes/client-node';
import type { GrpcRouteRule, HttpRouteParentRef, HttpRouteRule, Snapshot } from '../../api/types.ts';
import { validateSnapshot } from '../../api/validate.ts';
import { CompiledRound, compileFor, PolicyIndex } from '../compiler.ts';
import { Registry } from '../registry.ts';
import { servicesFromSlices } from '../sources/endpoint-slices.ts';
import { RouteConflicts } from '../sources/route-conflicts.ts';
import { compileServiceRouting } from './compile.ts';
import type { RoutingService, StoredGrpcRoute, StoredHttpRoute } from './stored-route.ts';

const svc = (name: string, extra: Partial<HttpRouteParentRef> = {}): HttpRouteParentRef => ({ group: '', kind: 'Service', name, ...extra });
const http = (name: string, parentRefs: HttpRouteParentRef[], rules: HttpRouteRule[]): StoredHttpRoute =>
  ({ kind: 'HTTPRoute', key: `shop/${name}`, namespace: 'shop', name, origin: 'test', spec: { parentRefs, rules } });
const grpc = (name: string, parentRefs: HttpRouteParentRef[], rules: GrpcRouteRule[]): StoredGrpcRoute =>
  ({ kind: 'GRPCRoute', key: `shop/${name}`, namespace: 'shop', name, origin: 'test', spec: { parentRefs, rules } });
const payments: RoutingService = { name: 'payments', namespace: 'shop', ports: [{ port: 80, name: 'http' }, { port: 9090, name: 'admin' }] };
const to = (name: string, port?: number) => [{ name, ...(port === undefined ? {} : { port }) }];

describe('routing by Service port', () => {
  it('a parentRef without port routes every port; the first port\'s routing is the service\'s', () => {
    const out = compileServiceRouting([http('all', [svc('payments')], [{ backendRefs: to('payments', 80) }])], [payments]);
    assert.deepEqual([...out.ports.get('payments.shop')!.keys()], [80, 9090]);
    assert.deepEqual(out.routing.get('payments.shop'), out.ports.get('payments.shop')!.get(80));
  });

  it('a parentRef with port, or with sectionName naming a port, routes that port only', () => {
    for (const ref of [svc('payments', { port: 9090 }), svc('payments', { sectionName: 'admin' })]) {
      const out = compileServiceRouting([http('admin', [ref], [{ backendRefs: to('payments', 9090) }])], [payments]);
      assert.equal(out.routing.has('payments.shop'), false, 'no routing on the first port');
      assert.deepEqual([...out.ports.get('payments.shop')!.keys()], [9090]);
    }
  });

  it('a port or sectionName the Service does not have attaches nowhere, with a warning', () => {
    const warnings: string[] = [];
    const out = compileServiceRouting([http('r', [svc('payments', { port: 8443 }), svc('payments', { sectionName: 'grpc' })], [{ backendRefs: to('payments') }])], [payments], 80, (w) => warnings.push(w));
    assert.equal(out.ports.size + out.routing.size, 0);
    assert.deepEqual(warnings, [
      'HTTPRoute shop/r: spec.parentRefs[0]: port 8443 is not a port of payments (80, 9090); not attached',
      'HTTPRoute shop/r: spec.parentRefs[1]: sectionName "grpc" names no port of payments; not attached',
    ]);
  });

  it('a parentRef for every port and one for a port do not list the rules twice', () => {
    const out = compileServiceRouting([http('r', [svc('payments'), svc('payments', { port: 9090 })], [{ backendRefs: to('payments') }])], [payments]);
    assert.equal(out.ports.get('payments.shop')!.get(9090)!.rules.length, 1);
  });

  it('a backendRef\'s port is kept on a multi-port Service (the sidecar picks that port), left out on a one-port one, refused when absent', () => {
    const out = compileServiceRouting([http('r', [svc('web')], [{ backendRefs: [...to('payments', 9090), ...to('cart', 80)] }, { backendRefs: to('payments', 7000) }])], [payments]);
    const rules = out.routing.get('web.shop')!.rules;
    assert.deepEqual(rules[0]!.backends, [{ service: 'payments', namespace: 'shop', port: 9090, weight: 1 }, { service: 'cart', namespace: 'shop', weight: 1 }]);
    assert.equal(rules[1]!.unresolved, 'backendRef payments: port 7000 is not a port of the Service (80, 9090)');
  });

  it('GEP-1294 per port: a GRPCRoute on port 9090 takes 9090 from an HTTPRoute on every port, which keeps 80', () => {
    const warnings: string[] = [];
    const out = compileServiceRouting([
      http('web', [svc('payments')], [{ backendRefs: to('payments', 80) }]),
      grpc('rpc', [svc('payments', { port: 9090 })], [{ backendRefs: to('payments', 9090) }]),
    ], [payments], 80, (w) => warnings.push(w));
    const byPort = out.ports.get('payments.shop')!;
    assert.equal(byPort.get(80)!.rules[0]!.source, 'HTTPRoute shop/web rule 0');
    assert.equal(byPort.get(9090)!.rules[0]!.source, 'GRPCRoute shop/rpc rule 0');
    assert.deepEqual(warnings, ['HTTPRoute shop/web: not applied to Service shop/payments port 9090, which has GRPCRoutes: a Service and port is routed by one route type, GRPCRoute first (GEP-1294, Conflicted)']);
    // Status says the same of the HTTPRoute's parentRef: its ports overlap the GRPCRoute's.
    const conflict = new RouteConflicts([grpc('rpc', [svc('payments', { port: 9090 })], [])]).conflictWith('shop');
    assert.match(conflict(svc('payments'))!, /GRPCRoute shop\/rpc binds Service shop\/payments port 9090/);
    assert.equal(conflict(svc('payments', { port: 80 })), undefined);
  });

  it('a one-port Service is one routing whatever port its parentRefs name, so long as it is that port', () => {
    const out = compileServiceRouting([http('r', [svc('echo', { port: 50051 })], [{ backendRefs: to('echo', 50051) }])], [{ name: 'echo', namespace: 'shop', ports: [{ port: 50051 }] }]);
    assert.equal(out.ports.size, 0);
    assert.deepEqual(out.routing.get('echo.shop')!.rules[0]!.backends, [{ service: 'echo', namespace: 'shop', weight: 1 }]);
  });
});

describe('ports in the registry, the EndpointSlices and the snapshot', () => {
  it('local registrations on --service-port make a Service with those ports, 80 first; 80 alone stays portless', () => {
    const registry = new Registry();
    registry.register('payments', 'shop', '127.0.0.1:7001', 'a');
    registry.register('payments', 'shop', '127.0.0.1:7002', 'b', undefined, 9090);
    registry.register('cart', 'shop', '127.0.0.1:7003', 'c');
    const [cart, pay] = registry.services();
    assert.deepEqual(cart, { name: 'cart', namespace: 'shop', endpoints: [{ address: '127.0.0.1:7003', name: 'c' }] });
    assert.deepEqual(pay!.endpoints.map((e) => e.address), ['127.0.0.1:7001']);
    assert.deepEqual(pay!.ports!.map((p) => [p.port, p.endpoints.map((e) => e.address)]), [[80, ['127.0.0.1:7001']], [9090, ['127.0.0.1:7002']]]);
  });

  it('EndpointSlice ports are matched to Service ports by name, each slice with its own target port', () => {
    const slice = (name: string, ip: string, ports: k8s.DiscoveryV1EndpointPort[]): k8s.V1EndpointSlice => ({
      addressType: 'IPv4', metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': 'payments' } }, ports,
      endpoints: [{ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `pod-${ip}` } }],
    });
    const slices = [
      slice('a', '10.1.0.1', [{ name: 'admin', port: 9901 }, { name: 'http', port: 8080 }]),
      slice('b', '10.1.0.2', [{ name: 'http', port: 8081 }, { name: 'admin', port: 9902 }]),
    ];
    const known = { metadata: { name: 'payments', namespace: 'shop' }, clusterIps: ['10.96.0.10'], ports: [{ port: 80, name: 'http', appProtocol: 'http' }, { port: 9090, name: 'admin' }] };
    const idle = { metadata: { name: 'idle', namespace: 'shop' }, clusterIps: ['10.96.0.11'], ports: [{ port: 80 }] };
    const [pay, idleRecord] = servicesFromSlices(slices, undefined, (ns, name) => (name === 'payments' && ns === 'shop' ? known : undefined), [known, idle]);
    assert.deepEqual(pay!.ports!.map((p) => [p.port, p.name, p.appProtocol, p.endpoints.map((e) => e.address)]), [
      [80, 'http', 'http', ['10.1.0.1:8080', '10.1.0.2:8081']],
      [9090, 'admin', undefined, ['10.1.0.1:9901', '10.1.0.2:9902']],
    ]);
    assert.deepEqual(pay!.endpoints, pay!.ports![0]!.endpoints);
    assert.deepEqual(pay!.clusterIps, ['10.96.0.10']);
    assert.deepEqual(idleRecord, { name: 'idle', namespace: 'shop', endpoints: [], ports: [{ port: 80, endpoints: [] }], clusterIps: ['10.96.0.11'] }, 'a Service without slices is listed for routing');
    // Without the Service: the first slice port, as before ports.
    assert.deepEqual(servicesFromSlices(slices)[0]!.endpoints.map((e) => e.address), ['10.1.0.1:9901', '10.1.0.2:8081']);
  });

  it('the snapshot gives ClusterIPs as hosts and each port\'s endpoints and routing; it validates, and a repeated port is refused', () => {
    const services = [
      { name: 'payments', namespace: 'shop', clusterIps: ['10.96.0.10'], endpoints: [{ address: '10.1.0.1:8080', name: 'p' }], ports: [{ port: 80, name: 'http', endpoints: [{ address: '10.1.0.1:8080', name: 'p' }] }, { port: 9090, name: 'admin', endpoints: [{ address: '10.1.0.1:9901', name: 'p' }] }] },
      { name: 'cart', namespace: 'shop', clusterIps: ['10.96.0.20'], endpoints: [{ address: '10.1.0.3:8080', name: 'c' }], ports: [{ port: 80, endpoints: [{ address: '10.1.0.3:8080', name: 'c' }] }] },
    ];
    const { routing, ports } = compileServiceRouting([http('admin', [svc('payments', { port: 9090 })], [{ backendRefs: to('payments', 9090) }])], services);
    const round = new CompiledRound(services, new PolicyIndex([]), undefined, undefined, routing, ports);
    const snapshot = { ...JSON.parse(compileFor({ service: 'web', namespace: 'shop' }, round).json), version: 1 } as Snapshot;
    assert.deepEqual(validateSnapshot(snapshot), []);
    const [cart, pay] = snapshot.services;
    assert.deepEqual(cart, { name: 'cart', namespace: 'shop', hosts: ['10.96.0.20'], endpoints: [{ address: '10.1.0.3:8080', name: 'c' }] }, 'one port: no ports list');
    assert.deepEqual(Object.keys(pay!), ['name', 'namespace', 'hosts', 'endpoints', 'ports']);
    assert.deepEqual(pay!.ports!.map((p) => [p.port, p.endpoints[0]!.address, p.routing?.rules[0]!.backends]), [
      [80, '10.1.0.1:8080', undefined],
      [9090, '10.1.0.1:9901', [{ service: 'payments', namespace: 'shop', port: 9090, weight: 1 }]],
    ]);
    const repeated = { ...snapshot, services: [{ ...pay!, ports: [pay!.ports![0]!, { ...pay!.ports![1]!, port: 80 }] }] };
    assert.deepEqual(validateSnapshot(repeated).map((i) => `${i.path}: ${i.message}`), ['services[0].ports[1].port: duplicates ports[0].port 80']);
  });
});
