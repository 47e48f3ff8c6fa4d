// Issue 13: what HTTPRoute matching costs per request, measured in-process on the real code. The
// RoutingSpec comes from the control plane's compiler (control/routing/compile.ts, so the matches are
// in the Gateway API's precedence order, as a sidecar receives them) and the sidecar compiles and
// applies it (sidecar/routing/route-match.ts compileMatches, firstMatch). The requests are plain
// objects with the three fields firstMatch reads (method, path, requestHeaders), as node:http gives them.
import { compileRouting } from '../control/routing/compile.ts';
import type { StoredHttpRoute } from '../control/routing/stored-route.ts';
import { compileSnapshot } from '../sidecar/config/compile.ts';
import { matchRoute } from '../sidecar/config/compiled.ts';
import { systemClock, systemRandom } from '../sidecar/policy/clock.ts';
import { SidecarMetrics } from '../sidecar/telemetry/metrics.ts';
import { EndpointStateRegistry } from '../sidecar/upstream/endpoint-state.ts';
import { PoolRegistry } from '../sidecar/upstream/pool-registry.ts';
import { PolicyStateRegistry } from '../sidecar/policy/policy-state.ts';
import { compileMatches, firstMatch, type CompiledRouteMatch } from '../sidecar/routing/route-match.ts';
import { pino } from 'pino';
import type { HttpRouteRule, RoutingSpec, Snapshot } from '../api/types.ts';
import type { Exchange } from '../sidecar/proxy/exchange.ts';

export const ITERATIONS = Number(process.env.BENCH_ROUTE_ITERATIONS ?? 1_000_000);
export const RUNS = Number(process.env.BENCH_ROUTE_RUNS ?? 7);

const backend = [{ name: 'payments', port: 80 }];

/**
 * 50 rules of the kinds a real service carries: Exact API paths, PathPrefix trees of different
 * depths, some restricted to a method, some canaried by a header, two by a query parameter, and a
 * PathPrefix "/" catch-all last in the list (and, by precedence, last in the order).
 */
export function fiftyRules(): HttpRouteRule[] {
  const rules: HttpRouteRule[] = [];
  const resources = ['orders', 'payments', 'refunds', 'customers', 'invoices', 'carts', 'products', 'shipments', 'coupons', 'accounts'];
  for (const [i, r] of resources.entries()) {
    // Per resource: an Exact path, a method-restricted prefix, a plain prefix of the collection, a header canary.
    rules.push({ name: `${r}-list`, matches: [{ path: { type: 'Exact', value: `/api/v1/${r}` }, method: 'GET' }], backendRefs: backend });
    rules.push({ name: `${r}-write`, matches: [{ path: { type: 'PathPrefix', value: `/api/v1/${r}/` }, method: 'POST' }], backendRefs: backend });
    rules.push({ name: `${r}-items`, matches: [{ path: { type: 'PathPrefix', value: `/api/v1/${r}` } }], backendRefs: backend });
    if (i < 8) {
      rules.push({ name: `${r}-canary`, matches: [{ path: { type: 'PathPrefix', value: `/api/v2/${r}` }, headers: [{ name: 'x-canary', value: 'true' }] }], backendRefs: backend });
    } else {
      rules.push({ name: `${r}-beta`, matches: [{ path: { type: 'PathPrefix', value: `/api/v2/${r}` }, queryParams: [{ name: 'beta', value: '1' }] }], backendRefs: backend });
    }
  }
  // 10 more to make 50: static trees, health and metadata, a tenant header, and the catch-all.
  rules.push({ name: 'healthz', matches: [{ path: { type: 'Exact', value: '/healthz' } }], backendRefs: backend });
  rules.push({ name: 'readyz', matches: [{ path: { type: 'Exact', value: '/readyz' } }], backendRefs: backend });
  rules.push({ name: 'static', matches: [{ path: { type: 'PathPrefix', value: '/static' } }], backendRefs: backend });
  rules.push({ name: 'assets', matches: [{ path: { type: 'PathPrefix', value: '/assets/img' } }], backendRefs: backend });
  rules.push({ name: 'admin', matches: [{ path: { type: 'PathPrefix', value: '/admin' }, headers: [{ name: 'x-role', value: 'admin' }, { name: 'x-tenant', value: 'ops' }] }], backendRefs: backend });
  rules.push({ name: 'graphql', matches: [{ path: { type: 'Exact', value: '/graphql' }, method: 'POST' }], backendRefs: backend });
  rules.push({ name: 'webhooks', matches: [{ path: { type: 'PathPrefix', value: '/webhooks' }, method: 'POST' }], backendRefs: backend });
  rules.push({ name: 'tenant-acme', matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-tenant', value: 'acme' }] }], backendRefs: backend });
  rules.push({ name: 'api-v2', matches: [{ path: { type: 'PathPrefix', value: '/api/v2' } }], backendRefs: backend });
  rules.push({ name: 'catch-all', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: backend });
  return rules;
}

/** The three-rule route of the pair benchmark: an Exact match, a header match, and the "/" catch-all. */
export function threeRules(service = 'payments'): HttpRouteRule[] {
  const backend = [{ name: service, port: 80 }];
  return [
    { name: 'healthz', matches: [{ path: { type: 'Exact', value: '/healthz' } }], backendRefs: backend },
    { name: 'canary', matches: [{ headers: [{ name: 'x-canary', value: 'true' }] }], backendRefs: backend },
    { name: 'catch-all', matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: backend },
  ];
}

/** Issue 13: the rule that takes the pair benchmark's load (GET /), third of three on Service "upstream". */
export const ROUTE_RULE = 'bench-catch-all';
export const THREE_RULE_ROUTE = [
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: HTTPRoute',
  'metadata: { name: upstream-bench, namespace: default }',
  'spec:',
  '  parentRefs: [{ group: "", kind: Service, name: upstream }]',
  '  rules:',
  '    - name: bench-healthz',
  '      matches: [{ path: { type: Exact, value: /healthz } }]',
  '      backendRefs: [{ name: upstream, port: 80 }]',
  '    - name: bench-canary',
  '      matches: [{ headers: [{ name: x-canary, value: "true" }] }]',
  '      backendRefs: [{ name: upstream, port: 80 }]',
  `    - name: ${ROUTE_RULE}`,
  '      matches: [{ path: { type: PathPrefix, value: / } }]',
  '      backendRefs: [{ name: upstream, port: 80 }]',
  '',
].join('\n');

/** The RoutingSpec the control plane sends for one HTTPRoute with these rules on Service "payments". */
export function routingFor(rules: HttpRouteRule[], service = 'payments'): RoutingSpec {
  const route: StoredHttpRoute = {
    kind: 'HTTPRoute', key: `default/${service}`, namespace: 'default', name: service, origin: 'bench',
    spec: { parentRefs: [{ group: '', kind: 'Service', name: service }], rules },
  };
  const routing = compileRouting([route], [{ name: service, namespace: 'default' }]).get(`${service}.default`);
  if (!routing) throw new Error(`route-micro: the control plane compiled no routing for ${service}`);
  return routing;
}

interface Req { method: string; path: string; requestHeaders: Record<string, string> }

const req = (method: string, path: string, headers: Record<string, string> = {}): Req =>
  ({ method, path, requestHeaders: { host: 'payments', 'user-agent': 'wrk', accept: '*/*', ...headers } });

/** ns of CPU per call of `op` over `inputs` in turn, median of RUNS runs (after a warm-up). */
function nsPerCall<T>(inputs: readonly T[], op: (x: T) => unknown): number {
  let sink = 0;
  const once = (n: number) => {
    for (let i = 0; i < n; i++) if (op(inputs[i % inputs.length] as T) !== undefined) sink++;
  };
  once(100_000);
  const runs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const start = process.cpuUsage();
    once(ITERATIONS);
    const used = process.cpuUsage(start);
    runs.push(((used.user + used.system) * 1000) / ITERATIONS);
  }
  if (sink < 0) throw new Error('unreachable');
  runs.sort((a, b) => a - b);
  return runs[Math.floor(runs.length / 2)] as number;
}

export interface RouteMicroRow {
  name: string;
  /** Where the requests land: the position (0-based) of the match that took them, in precedence order. */
  landed: string;
  ns: number;
}

export function routeMicrobench(): { rows: RouteMicroRow[]; matches50: number; rules50: number } {
  const routing50 = routingFor(fiftyRules());
  const m50 = compileMatches(routing50);
  const routing3 = routingFor(threeRules());
  const m3 = compileMatches(routing3);
  const at = (matches: CompiledRouteMatch[], r: Req) => {
    const m = firstMatch(matches, r as unknown as Exchange);
    const rules = matches === m3 ? routing3.rules : routing50.rules;
    return m === undefined ? 'none' : `${rules[m.rule]?.name ?? m.rule}@${matches.indexOf(m)}`;
  };
  // Requests that land early, in the middle, late (the last rules before the catch-all) and on no rule
  // (the same 50 rules without the catch-all). Positions are checked below: they are the real order.
  const early = [req('GET', '/healthz'), req('GET', '/api/v1/orders'), req('POST', '/graphql')];
  const middle = [req('GET', '/api/v1/customers/c-9'), req('POST', '/api/v1/refunds/r-17'), req('GET', '/api/v2/payments/p-3', { 'x-canary': 'true' })];
  const late = [req('GET', '/api/v1/orders/o-42?expand=items'), req('GET', '/static/app.js'), req('GET', '/admin/users', { 'x-role': 'admin', 'x-tenant': 'ops' })];
  const catchAll = [req('GET', '/'), req('GET', '/index.html'), req('GET', '/favicon.ico')];
  const noCatchAll = compileMatches({ ...routing50, matches: routing50.matches.filter((m) => !(m.match.path?.type === 'PathPrefix' && m.match.path.value === '/')) });
  const mix = [...early, ...middle, ...late, ...catchAll];
  const landed = (matches: CompiledRouteMatch[], reqs: Req[]) => reqs.map((r) => at(matches, r)).join(', ');

  // No routing: a service without HTTPRoutes and without policy routes (matchRoute falls to the default).
  const pools = new PoolRegistry();
  const snapshot: Snapshot = { apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1, services: [{ name: 'payments', namespace: 'default', endpoints: [{ address: '127.0.0.1:1' }] }] };
  const compiled = compileSnapshot(snapshot, {
    self: { service: 'bench', namespace: 'default' }, app: undefined, pools, metrics: new SidecarMetrics(() => 0), policyStates: new PolicyStateRegistry(),
    env: { clock: systemClock, random: systemRandom, log: pino({ level: 'silent' }), draining: () => false, tracing: undefined },
    endpointStates: new EndpointStateRegistry(systemClock, systemRandom, { onCreated() {}, onTransition() {} }),
  });
  const service = compiled.services[0]!;
  if (service.routing !== undefined || service.routes.length !== 0) throw new Error('route-micro: the no-routing service has routes');

  const fm = (matches: CompiledRouteMatch[]) => (r: Req) => firstMatch(matches, r as unknown as Exchange);
  const rows: RouteMicroRow[] = [
    { name: 'no routing (matchRoute, service default)', landed: 'default', ns: nsPerCall(mix, (r) => matchRoute(service, r.method, r.path)) },
    { name: '3 rules, the catch-all (the pair benchmark\'s load)', landed: landed(m3, [req('GET', '/')]), ns: nsPerCall([req('GET', '/')], fm(m3)) },
    { name: '3 rules, mix of the requests below', landed: landed(m3, mix), ns: nsPerCall(mix, fm(m3)) },
    { name: '50 rules, early', landed: landed(m50, early), ns: nsPerCall(early, fm(m50)) },
    { name: '50 rules, middle', landed: landed(m50, middle), ns: nsPerCall(middle, fm(m50)) },
    { name: '50 rules, late', landed: landed(m50, late), ns: nsPerCall(late, fm(m50)) },
    { name: '50 rules, the catch-all (last)', landed: landed(m50, catchAll), ns: nsPerCall(catchAll, fm(m50)) },
    { name: '50 rules without the catch-all, no rule matches (404 NR)', landed: landed(noCatchAll, catchAll), ns: nsPerCall(catchAll, fm(noCatchAll)) },
    { name: '50 rules, mix (early, middle, late, catch-all equally)', landed: `${mix.length} requests`, ns: nsPerCall(mix, fm(m50)) },
  ];
  pools.destroy();
  // The three pair-benchmark requests must land where the names say.
  if (at(m3, req('GET', '/')) !== 'catch-all@2') throw new Error(`route-micro: GET / took ${at(m3, req('GET', '/'))} of the 3 rules`);
  if (noCatchAll.length !== m50.length - 1 || catchAll.some((r) => firstMatch(noCatchAll, r as unknown as Exchange) !== undefined)) {
    throw new Error('route-micro: the no-match case matched');
  }
  return { rows, matches50: m50.length, rules50: routing50.rules.length };
}

export function routeMicroTable(result: ReturnType<typeof routeMicrobench>): string {
  return [`| case | requests land on (rule@position of ${result.matches50}) | ns per request |`, '|---|---|---:|',
    ...result.rows.map((r) => `| ${r.name} | ${r.landed} | ${r.ns.toFixed(0)} |`)].join('\n');
}

if (process.argv[1] === import.meta.filename) {
  process.stdout.write(`${routeMicroTable(routeMicrobench())}\n`);
}
