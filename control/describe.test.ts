// `petrel describe`'s pure parts: endpoint states merged across callers (open when any caller's
// breaker is open, naming them; latency the mean with the max beside it; in flight summed), the
// endpoint views a stat report carries (bounded, decoded strictly), and the body describeService
// builds from a round: values with their sources, rules, AccessPolicy provenance, a 404 naming
// what exists nearby, and a pod found by its endpoint name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStatReport, encodeStatReport, MAX_STAT_REPORT_BYTES, type EndpointView } from '../api/stat-summary.ts';
import type { HttpRouteSpec, ResiliencePolicySpec } from '../api/types.ts';
import { AccessIndex } from './access-index.ts';
import { CompiledRound } from './compiler.ts';
import { describePod, describeService, NotFound, type DescribeInput } from './describe.ts';
import { PolicyIndex } from './policy-index.ts';
import type { StoredPolicy } from './policy.ts';
import { compileRouting } from './routing/compile.ts';
import { mergeEndpointViews, STAT_MAX_AGE_MS, StatStore } from './stat-store.ts';

const view = (over: Partial<EndpointView>): EndpointView => ({ service: 'payments.shop', address: '10.0.0.1:15006', name: 'payments-0', circuit: 'closed', ewmaMs: 10, inflight: 0, ...over });

describe('endpoint states merged across callers', () => {
  it('open when any caller holds the breaker open, naming it; latency mean and max; in flight summed', () => {
    const merged = mergeEndpointViews([
      { caller: 'web-0 (web.shop)', view: view({ ewmaMs: 10, inflight: 2 }) },
      { caller: 'web-1 (web.shop)', view: view({ circuit: 'open', ewmaMs: 1000, inflight: 0 }) },
      { caller: 'cron-0 (cron.shop)', view: view({ circuit: 'half-open', ewmaMs: 40, inflight: 1 }) },
      { caller: 'web-0 (web.shop)', view: view({ address: '10.0.0.2:15006', name: 'payments-1', ewmaMs: 5 }) },
    ]);
    assert.deepEqual(merged, [
      {
        address: '10.0.0.1:15006', name: 'payments-0', circuit: 'open', openBy: ['web-1 (web.shop)'], halfOpenBy: ['cron-0 (cron.shop)'],
        ewmaMs: 350, maxEwmaMs: 1000, inflight: 3, callers: ['cron-0 (cron.shop)', 'web-0 (web.shop)', 'web-1 (web.shop)'],
      },
      { address: '10.0.0.2:15006', name: 'payments-1', circuit: 'closed', openBy: [], halfOpenBy: [], ewmaMs: 5, maxEwmaMs: 5, inflight: 0, callers: ['web-0 (web.shop)'] },
    ]);
  });

  it('half-open over closed, closed over none (a caller without a breaker configured)', () => {
    assert.equal(mergeEndpointViews([{ caller: 'a', view: view({ circuit: 'closed' }) }, { caller: 'b', view: view({ circuit: 'half-open' }) }])[0]?.circuit, 'half-open');
    assert.equal(mergeEndpointViews([{ caller: 'a', view: view({ circuit: 'none' }) }, { caller: 'b', view: view({ circuit: 'closed' }) }])[0]?.circuit, 'closed');
    assert.equal(mergeEndpointViews([{ caller: 'a', view: view({ circuit: 'none' }) }])[0]?.circuit, 'none');
  });

  it('the stat store merges the latest report of each caller, for one service, and forgets a silent one', () => {
    let now = 0;
    const store = new StatStore(() => now);
    store.report('a', 'shop', { windowSeconds: 30, series: [], endpoints: [view({}), view({ service: 'orders.shop', address: '10.0.1.1:15006' })] }, 'web-0 (web.shop)');
    store.report('b', 'shop', { windowSeconds: 30, series: [], endpoints: [view({ circuit: 'open' })] }, 'web-1 (web.shop)');
    assert.deepEqual(store.endpoints('payments.shop').map((e) => [e.address, e.circuit, e.openBy]), [['10.0.0.1:15006', 'open', ['web-1 (web.shop)']]]);
    assert.equal(store.endpoints('orders.shop').length, 1);
    now = STAT_MAX_AGE_MS / 2;
    store.report('a', 'shop', { windowSeconds: 30, series: [], endpoints: [view({})] }, 'web-0 (web.shop)');
    now = STAT_MAX_AGE_MS + 1;
    assert.deepEqual(store.endpoints('payments.shop').map((e) => [e.circuit, e.callers]), [['closed', ['web-0 (web.shop)']]], 'b went silent: its open breaker is no longer shown');
    assert.equal(store.endpoints('orders.shop').length, 0, 'the latest report of a replaced the earlier one');
  });
});

describe('endpoint views on the stat report', () => {
  it('round-trip, and a bad one is refused naming the field', () => {
    const report = { id: 'x', secret: 's', windowSeconds: 30, series: [], endpoints: [view({ circuit: 'half-open' })] };
    assert.deepEqual(decodeStatReport(encodeStatReport(report)), report);
    assert.throws(() => decodeStatReport(JSON.stringify({ ...report, endpoints: [{ ...view({}), circuit: 'ajar' }] })), /stats: endpoints\[0\]\.circuit: must be one of closed, open, half-open, none/);
    assert.throws(() => decodeStatReport(JSON.stringify({ ...report, endpoints: Array.from({ length: 257 }, () => view({})) })), /at most 256/);
    assert.equal(decodeStatReport(JSON.stringify({ id: 'x', secret: 's', windowSeconds: 30, series: [] })).endpoints, undefined, 'an older sidecar sends none');
  });

  it('too big with long names: quiet endpoints go first, an open one stays', () => {
    const long = 'x'.repeat(240);
    const endpoints = Array.from({ length: 256 }, (_, i) => view({ service: `${long}.shop`, name: `${long}-${i}`, address: `10.0.${i >> 8}.${i & 255}:15006` }));
    endpoints[200] = { ...endpoints[200]!, circuit: 'open' };
    const text = encodeStatReport({ id: 'x', secret: 's', windowSeconds: 30, series: [], endpoints });
    assert.ok(text.length <= MAX_STAT_REPORT_BYTES);
    const decoded = decodeStatReport(text);
    assert.ok(decoded.endpoints!.length > 0 && decoded.endpoints!.length < 256);
    assert.equal(decoded.endpoints![0]?.circuit, 'open');
  });
});

const resilience = (name: string, spec: ResiliencePolicySpec): StoredPolicy => ({ kind: 'ResiliencePolicy', key: `shop/${name}`, namespace: 'shop', name, origin: `${name}.yaml (document 1)`, spec });
const ROUTE: HttpRouteSpec = {
  parentRefs: [{ group: '', kind: 'Service', name: 'payments' }],
  rules: [
    { name: 'charge', matches: [{ path: { type: 'PathPrefix', value: '/charge' }, method: 'POST' }], backendRefs: [{ name: 'payments' }], timeouts: { request: '3s' } },
    { name: 'reads', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'payments' }] },
  ],
};

function input(withRoute: boolean, endpoints = new StatStore()): DescribeInput {
  const policies: StoredPolicy[] = [
    resilience('defaults', { timeout: { total: '10s' } }),
    resilience('payments', { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 3 }, circuitBreaker: { consecutiveFailures: 2 }, routes: [{ name: 'slow', match: { pathPrefix: '/slow' }, timeout: { total: '30s' } }] }),
    resilience('payments-charge', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'payments', sectionName: 'charge' }, retry: { attempts: 5 } }),
    { kind: 'AccessPolicy', key: 'shop/payments', namespace: 'shop', name: 'payments', origin: 'access.yaml (document 1)', spec: { targetRef: { kind: 'Service', name: 'payments' }, rules: [{ from: { serviceAccounts: ['web'] } }] } },
    ...(withRoute ? [{ kind: 'HTTPRoute' as const, key: 'shop/payments', namespace: 'shop', name: 'payments', origin: 'route.yaml (document 1)', spec: ROUTE }] : []),
  ];
  const services = [
    { name: 'payments', namespace: 'shop', endpoints: [{ address: '10.0.0.1:15006', name: 'payments-0' }, { address: '10.0.0.2:15006', name: 'payments-1' }] },
    { name: 'web', namespace: 'shop', endpoints: [{ address: '10.0.2.1:15006', name: 'web-0' }] },
  ];
  const index = new PolicyIndex(policies);
  const routing = compileRouting(policies.filter((p) => p.kind === 'HTTPRoute') as never, services, undefined, () => {}, index);
  const round = new CompiledRound(services, index, new AccessIndex(policies), undefined, routing);
  return { round, services, sidecars: [], endpoints: (s) => endpoints.endpoints(s) };
}

describe('describeService', () => {
  it('every value with its source; a rule with its own; the AccessPolicy named; endpoints with what callers report', () => {
    const store = new StatStore();
    store.report('a', 'shop', { windowSeconds: 30, series: [], endpoints: [view({ circuit: 'open' })] }, 'web-0 (web.shop)');
    const body = describeService(input(true, store), 'shop', 'payments');
    assert.deepEqual(body.policy['retry.attempts'], { value: 3, source: 'ResiliencePolicy shop/payments in payments.yaml (document 1)' });
    assert.deepEqual(body.policy['timeout.total'], { value: '10s', source: 'ResiliencePolicy shop/defaults in defaults.yaml (document 1) (namespace default)' });
    assert.equal(body.policy['timeout.connect']?.source, 'built-in');
    assert.equal(body.policy['routes'], undefined, 'the shorthand is left out when HTTPRoutes route the service');
    assert.deepEqual(body.routes.map((r) => r.name), ['charge', 'reads']);
    const charge = body.routes[0]!;
    assert.deepEqual(charge.policy['retry.attempts'], { value: 5, source: 'ResiliencePolicy shop/payments-charge in payments-charge.yaml (document 1)' });
    assert.match(charge.policy['timeout.total']!.source, /HTTPRoute shop\/payments/, 'the rule\'s own timeouts.request');
    assert.deepEqual(charge.matches, [{ path: { type: 'PathPrefix', value: '/charge' }, method: 'POST' }]);
    assert.deepEqual(body.routes[1]!.policy['retry.attempts'], body.policy['retry.attempts'], 'a rule without its own takes the service\'s');
    assert.deepEqual(body.access?.sources, ['AccessPolicy shop/payments in access.yaml (document 1)']);
    assert.deepEqual(body.endpoints.map((e) => [e.name, e.circuit, e.openBy]), [['payments-0', 'open', ['web-0 (web.shop)']], ['payments-1', 'unknown', []]]);
  });

  it('without HTTPRoutes the policy\'s routes: shorthand is listed, layered over the service', () => {
    const body = describeService(input(false), 'shop', 'payments');
    assert.deepEqual(body.routes.map((r) => [r.kind, r.name, r.policy['timeout.total']?.value, r.policy['retry.attempts']?.value]), [['policy route', 'slow', '30s', 3]]);
  });

  it('an unknown service is a NotFound naming the namespace\'s services, and where the name exists', () => {
    assert.throws(() => describeService(input(true), 'shop', 'paymnts'), (err: Error) => err instanceof NotFound && /no service paymnts in namespace shop; services there: payments, web$/.test(err.message));
    assert.throws(() => describeService(input(true), 'default', 'payments'), /no services there; payments exists in: payments\.shop \(-n NAMESPACE\)/);
  });

  it('a pod by its endpoint name: its services; an unknown pod names the endpoints there', () => {
    const pod = describePod(input(true), 'shop', 'payments-1');
    assert.deepEqual(pod.services.map((s) => s.service), ['payments']);
    assert.throws(() => describePod(input(true), 'shop', 'payments-9'), /no pod payments-9 in namespace shop .*endpoints there: payments-0, payments-1, web-0/);
  });
});
