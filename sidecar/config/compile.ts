// Compiles a validated snapshot into runtime objects: durations parsed, pools and endpoint state
// looked up, balancers, routes, buckets, budgets and metric children built. Runs once per
// snapshot, never per request.
import type { PolicySpec, ServiceSpec, Snapshot } from '../../api/types.ts';
import type { Balancer } from '../balancer/balancer.ts';
import { leastRequestCost, peakEwmaCost, PowerOfTwoBalancer } from '../balancer/power-of-two.ts';
import { RoundRobinBalancer } from '../balancer/round-robin.ts';
import type { Clock, Random } from '../policy/clock.ts';
import { ConcurrencyLimiter, DEFAULT_CONCURRENCY } from '../policy/concurrency-limiter.ts';
import type { SidecarMetrics } from '../telemetry/metrics.ts';
import { Endpoint } from '../upstream/endpoint.ts';
import { EndpointStateRegistry } from '../upstream/endpoint-state.ts';
import { PoolRegistry } from '../upstream/pool-registry.ts';
import {
  compileBreaker, compileFault, compileRateLimit, compileRetry, compileTimeouts, routeLayers, type PolicyEnvironment,
} from './compile-policy.ts';
import type { CompiledRoute, CompiledSnapshot, RoutePolicy, ServiceTarget } from './compiled.ts';
import { ServiceCallTarget, SingleCallTarget } from '../pipeline/targets.ts';

export { DEFAULT_CONNECT_TIMEOUT_MS } from './compile-policy.ts';

export interface SelfIdentity {
  service: string;
  namespace: string;
}

export interface CompileContext {
  self: SelfIdentity;
  /** The local app, host:port, behind the inbound listener. */
  app: string | undefined;
  pools: PoolRegistry;
  endpointStates: EndpointStateRegistry;
  metrics: SidecarMetrics;
  clock: Clock;
  random: Random;
}

/** The authorities a service answers to, as seen from a sidecar in `selfNamespace`. */
export function serviceHosts(name: string, namespace: string, extra: readonly string[], selfNamespace: string): string[] {
  const hosts = [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  if (namespace === selfNamespace) hosts.unshift(name);
  for (const h of extra) hosts.push(h.toLowerCase());
  return hosts;
}

function balancerFor(policy: PolicySpec | undefined, endpoints: readonly Endpoint[], random: Random): Balancer {
  switch (policy?.loadBalancer?.policy ?? 'ewma') {
    case 'round-robin': return new RoundRobinBalancer(endpoints);
    case 'least-request': return new PowerOfTwoBalancer(endpoints, leastRequestCost, random);
    default: return new PowerOfTwoBalancer(endpoints, peakEwmaCost, random);
  }
}

class SnapshotCompiler {
  readonly poolKeys = new Set<string>();
  readonly endpointKeys = new Set<string>();
  readonly #ctx: CompileContext;
  readonly #env: PolicyEnvironment;

  constructor(ctx: CompileContext) {
    this.#ctx = ctx;
    this.#env = { clock: ctx.clock, random: ctx.random };
  }

  endpoint(serviceId: string, address: string, name: string | undefined, connectMs: number, breaker: PolicySpec['circuitBreaker']): Endpoint {
    const origin = `http://${address}`;
    const poolKey = PoolRegistry.key(origin, connectMs);
    this.poolKeys.add(poolKey);
    this.endpointKeys.add(EndpointStateRegistry.key(serviceId, address));
    const state = this.#ctx.endpointStates.get(serviceId, address, name ?? address, compileBreaker(breaker));
    const label = `${serviceId} endpoint ${name ?? address}`;
    return new Endpoint(address, name, this.#ctx.pools.pool(origin, connectMs), poolKey, state.stats, state.breaker, label);
  }

  route(spec: ServiceSpec, routeName: string, route: Parameters<typeof routeLayers>[1]): RoutePolicy {
    const layers = routeLayers(spec.policy, route);
    const { metrics, self } = this.#ctx;
    return {
      name: routeName,
      timeouts: layers.timeout,
      retry: compileRetry(layers.retry[0], layers.retry[1], this.#env),
      rateLimit: compileRateLimit(layers.rateLimit, this.#env),
      fault: compileFault(layers.fault, this.#env),
      metrics: metrics.stream('outbound', self.service, spec.name, routeName),
      counters: metrics.routeCounters(self.service, spec.name, routeName),
    };
  }

  service(spec: ServiceSpec): ServiceTarget {
    const id = `${spec.name}.${spec.namespace}`;
    const policy = spec.policy;
    const connectMs = compileTimeouts(policy?.timeout).connectMs;
    const endpoints = spec.endpoints.map((e) => this.endpoint(id, e.address, e.name, connectMs, policy?.circuitBreaker));
    const routes: CompiledRoute[] = (policy?.routes ?? []).map((r) => ({
      match: {
        path: r.match?.path,
        pathPrefix: r.match?.pathPrefix,
        methods: r.match?.methods === undefined ? undefined : new Set(r.match.methods),
      },
      policy: this.route(spec, r.name, r),
    }));
    const concurrency = policy?.concurrency;
    const balancer = balancerFor(policy, endpoints, this.#ctx.random);
    return {
      id,
      name: spec.name,
      namespace: spec.namespace,
      endpoints,
      balancer,
      callTarget: new ServiceCallTarget(id, endpoints, balancer),
      routes,
      defaultRoute: this.route(spec, 'default', undefined),
      rateLimit: compileRateLimit(policy?.rateLimit, this.#env),
      concurrency: new ConcurrencyLimiter(concurrency?.maxRequests ?? DEFAULT_CONCURRENCY.maxRequests, concurrency?.maxPending ?? DEFAULT_CONCURRENCY.maxPending),
    };
  }

  inbound(snapshot: Snapshot): CompiledSnapshot['inbound'] {
    const ctx = this.#ctx;
    const timeouts = compileTimeouts(snapshot.inbound?.policy?.timeout);
    const app = ctx.app === undefined ? undefined
      : this.endpoint(`inbound.${ctx.self.service}`, ctx.app, 'app', timeouts.connectMs, undefined);
    return {
      timeouts, app,
      callTarget: app === undefined ? undefined : new SingleCallTarget(app.destination),
      rateLimit: compileRateLimit(snapshot.inbound?.policy?.rateLimit, this.#env),
    };
  }
}

export function compileSnapshot(snapshot: Snapshot, ctx: CompileContext): CompiledSnapshot {
  const compiler = new SnapshotCompiler(ctx);
  const hosts = new Map<string, ServiceTarget>();
  const addresses = new Map<string, ServiceTarget>();
  const services: ServiceTarget[] = [];
  for (const spec of snapshot.services) {
    const target = compiler.service(spec);
    services.push(target);
    for (const endpoint of spec.endpoints) {
      const address = endpoint.address.toLowerCase();
      if (!addresses.has(address)) addresses.set(address, target);
    }
    for (const host of serviceHosts(spec.name, spec.namespace, spec.hosts ?? [], ctx.self.namespace)) {
      if (!hosts.has(host)) hosts.set(host, target);
    }
  }
  const inbound = compiler.inbound(snapshot);
  return {
    version: snapshot.version,
    source: snapshot,
    hosts,
    addresses,
    services,
    passthrough: snapshot.outbound?.passthrough ?? true,
    inbound,
    poolKeys: compiler.poolKeys,
    endpointKeys: compiler.endpointKeys,
  };
}
