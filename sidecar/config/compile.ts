// Compiles a validated snapshot into runtime objects: durations parsed, pools and endpoint state
// looked up, balancers, routes and their chains of steps, buckets, budgets and metric children
// built. Runs once per snapshot, never per request. State that must outlive the snapshot comes
// from the registries (endpoint state, policy state) rather than being built here.
import type { PolicySpec, RouteSpec, ServiceSpec, Snapshot } from '../../api/types.ts';
import type { Balancer } from '../balancer/balancer.ts';
import { DEFAULT_PANIC_THRESHOLD, ServiceCallTarget, SingleCallTarget } from '../balancer/call-target.ts';
import { leastRequestCost, peakEwmaCost, PowerOfTwoBalancer } from '../balancer/power-of-two.ts';
import { RoundRobinBalancer } from '../balancer/round-robin.ts';
import { AuthorizeStep } from '../chain/authorize-step.ts';
import { BodyStep } from '../chain/body-step.ts';
import { ConcurrencyStep } from '../chain/concurrency-step.ts';
import { DeadlineStep } from '../chain/deadline-step.ts';
import { DispatchStep } from '../chain/dispatch-step.ts';
import { FaultStep } from '../chain/fault-step.ts';
import { RateLimitStep } from '../chain/rate-limit-step.ts';
import { chain, type ChainEnvironment } from '../chain/step.ts';
import { AccessControl } from '../policy/access-control.ts';
import { ConcurrencyLimiter, DEFAULT_CONCURRENCY } from '../policy/concurrency-limiter.ts';
import type { PolicyStateRegistry } from '../policy/policy-state.ts';
import { RetryBudget } from '../policy/retry-budget.ts';
import { TokenBucket } from '../policy/token-bucket.ts';
import type { RateLimitSpec } from '../../api/types.ts';
import type { SidecarMetrics } from '../telemetry/metrics.ts';
import { Endpoint } from '../upstream/endpoint.ts';
import { EndpointStateRegistry } from '../upstream/endpoint-state.ts';
import { PoolRegistry } from '../upstream/pool-registry.ts';
import type { MeshTls } from '../identity/mesh-tls.ts';
import { FixedReplyStep } from '../chain/fixed-reply-step.ts';
import { MirrorStep } from '../chain/mirror-step.ts';
import { RedirectStep } from '../chain/redirect-step.ts';
import { RouteFilterStep } from '../chain/route-filter-step.ts';
import type { Step } from '../chain/step.ts';
import { compileRouting, type RuleTail } from './compile-routing.ts';
import { compileBreaker, compileFault, compileRetry, compileTimeouts, routeLayers } from './compile-policy.ts';
import type { CompiledRoute, CompiledSnapshot, InboundRoute, InboundTarget, RouteMatch, RoutePolicy, ServiceTarget } from './compiled.ts';

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
  policyStates: PolicyStateRegistry;
  metrics: SidecarMetrics;
  /** Clock, randomness, log and tracing for the steps. */
  env: ChainEnvironment;
  /** The sidecar's certificate and trust bundle; endpoints with an identity are dialled over mTLS with it. */
  meshTls?: MeshTls;
}

/** The authorities a service answers to, as seen from a sidecar in `selfNamespace`. */
export function serviceHosts(name: string, namespace: string, extra: readonly string[], selfNamespace: string): string[] {
  const hosts = [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  if (namespace === selfNamespace) hosts.unshift(name);
  for (const h of extra) hosts.push(h.toLowerCase());
  return hosts;
}

function balancerFor(policy: PolicySpec | undefined, endpoints: readonly Endpoint[], ctx: CompileContext): Balancer {
  switch (policy?.loadBalancer?.policy ?? 'ewma') {
    case 'round-robin': return new RoundRobinBalancer(endpoints);
    case 'least-request': return new PowerOfTwoBalancer(endpoints, leastRequestCost, ctx.env.random);
    default: return new PowerOfTwoBalancer(endpoints, peakEwmaCost, ctx.env.random);
  }
}

function routeMatch(route: RouteSpec): RouteMatch {
  const m = route.match;
  return { path: m?.path, pathPrefix: m?.pathPrefix, methods: m?.methods === undefined ? undefined : new Set(m.methods) };
}

class SnapshotCompiler {
  readonly poolKeys = new Set<string>();
  readonly endpointKeys = new Set<string>();
  readonly policyKeys = new Set<string>();
  readonly #ctx: CompileContext;

  constructor(ctx: CompileContext) {
    this.#ctx = ctx;
  }

  /**
   * An endpoint with an `identity` is another sidecar, dialled over mTLS that must present that
   * identity, once this sidecar holds a certificate; without one (static config, a mesh without
   * identity) it is plaintext.
   */
  endpoint(serviceId: string, address: string, name: string | undefined, connectMs: number, breaker: PolicySpec['circuitBreaker'], identity?: string): Endpoint {
    const tls = identity === undefined ? undefined : this.#ctx.meshTls?.client(identity);
    const origin = `${tls === undefined ? 'http' : 'https'}://${address}`;
    const poolKey = PoolRegistry.key(origin, connectMs, tls);
    this.poolKeys.add(poolKey);
    this.endpointKeys.add(EndpointStateRegistry.key(serviceId, address));
    const state = this.#ctx.endpointStates.get(serviceId, address, name ?? address, compileBreaker(breaker));
    const label = `${serviceId} endpoint ${name ?? address}`;
    const pools = this.#ctx.pools;
    return new Endpoint(address, name, pools.pool(origin, connectMs, tls), pools.h2(origin, connectMs, tls), poolKey, state.stats, state.breaker, label, tls);
  }

  bucket(place: string, spec: RateLimitSpec | undefined): TokenBucket | undefined {
    if (spec === undefined) return undefined;
    const clock = this.#ctx.env.clock;
    return this.#ctx.policyStates.get(`${place}:rate`, spec, this.policyKeys,
      () => new TokenBucket(spec.requestsPerSecond, spec.burst ?? Math.max(1, Math.ceil(spec.requestsPerSecond)), clock));
  }

  /**
   * A route's policy and chain. `rule` makes it an HTTPRoute rule's: its own target (the weighted
   * backends), filters, mirrors, or a fixed answer when its backends cannot be resolved.
   */
  route(spec: ServiceSpec, id: string, routeName: string, route: RouteSpec | undefined, service: Omit<ServiceTarget, 'routes' | 'defaultRoute' | 'routing' | 'ports'>, rule?: RuleTail): RoutePolicy {
    const layers = routeLayers(spec.policy, route);
    const { metrics, self, env, policyStates } = this.#ctx;
    const place = `service:${id}:route:${routeName}`;
    const retry = compileRetry(layers.retry[0], layers.retry[1], env, (ratio, minPerSecond) =>
      policyStates.get(`${place}:budget`, { ratio, minPerSecond }, this.policyKeys, () => new RetryBudget(ratio, minPerSecond, env.clock)));
    const rateLimit = this.bucket(place, layers.rateLimit);
    const fault = compileFault(layers.fault, env);
    const buckets = [service.rateLimit, rateLimit].filter((b): b is TokenBucket => b !== undefined);
    const filters = rule?.filters;
    const mirrors = rule?.mirrors ?? [];
    let last: Step;
    if (rule?.fixed !== undefined) last = new FixedReplyStep(env, rule.fixed);
    else if (filters?.redirect !== undefined) last = new RedirectStep(filters.redirect);
    else {
      last = chain([
        // A mirrored request's body is buffered (up to 64 KiB) so that its copy can carry it.
        (next) => new BodyStep(retry.attempts > 1 || mirrors.length > 0, next),
        (next) => (mirrors.length === 0 ? undefined : new MirrorStep(mirrors, env.random, next)),
      ], new DispatchStep(env, { target: rule?.target ?? service.callTarget, timeouts: layers.timeout, retry, propagateDeadline: true, traceAttempts: true }));
    }
    const steps = chain([
      (next) => (buckets.length === 0 ? undefined : new RateLimitStep(env, buckets, id, next)),
      (next) => new ConcurrencyStep(env, service.concurrency, id, next),
      (next) => (fault === undefined ? undefined : new FaultStep(env, fault, next)),
      (next) => (RouteFilterStep.needed(filters) ? new RouteFilterStep(filters, next) : undefined),
    ], last);
    return {
      name: routeName,
      timeouts: layers.timeout,
      retry,
      rateLimit,
      fault,
      metrics: metrics.stream('outbound', self.service, spec.name, routeName, service.endpoints.length > 0 && service.endpoints.every((e) => e.tls !== undefined)),
      counters: metrics.routeCounters(self.service, spec.name, routeName),
      chain: steps,
    };
  }

  /** The service, and each of its ports (ServiceSpec.ports) as a target of its own; routing comes later. */
  service(spec: ServiceSpec): ServiceTarget {
    const target = this.#serviceOn(spec, spec.endpoints);
    if (spec.ports === undefined) return target;
    const ports = new Map<number, ServiceTarget>();
    for (const p of spec.ports) if (!ports.has(p.port)) ports.set(p.port, this.#serviceOn(spec, p.endpoints));
    return { ...target, ports };
  }

  #serviceOn(spec: ServiceSpec, specEndpoints: ServiceSpec['endpoints']): ServiceTarget {
    const id = `${spec.name}.${spec.namespace}`;
    const policy = spec.policy;
    const connectMs = compileTimeouts(policy?.timeout).connectMs;
    const endpoints = specEndpoints.map((e) => this.endpoint(id, e.address, e.name, connectMs, policy?.circuitBreaker, e.identity));
    const concurrency = { ...DEFAULT_CONCURRENCY, ...policy?.concurrency };
    const balancer = balancerFor(policy, endpoints, this.#ctx);
    const base = {
      kind: 'service' as const,
      id,
      name: spec.name,
      namespace: spec.namespace,
      endpoints,
      balancer,
      callTarget: new ServiceCallTarget(id, endpoints, balancer, policy?.loadBalancer?.panicThreshold ?? DEFAULT_PANIC_THRESHOLD),
      rateLimit: this.bucket(`service:${id}`, policy?.rateLimit),
      concurrency: this.#ctx.policyStates.get(`service:${id}:concurrency`, concurrency, this.policyKeys,
        () => new ConcurrencyLimiter(concurrency.maxRequests, concurrency.maxPending)),
    };
    const routes: CompiledRoute[] = (policy?.routes ?? []).map((r) => ({ match: routeMatch(r), policy: this.route(spec, id, r.name, r, base) }));
    return { ...base, routes, defaultRoute: this.route(spec, id, 'default', undefined, base), routing: undefined, ports: undefined };
  }

  inbound(snapshot: Snapshot): InboundTarget {
    const { self, app: appAddress, env } = this.#ctx;
    const policy = snapshot.inbound?.policy;
    const timeouts = compileTimeouts(policy?.timeout);
    const app = appAddress === undefined ? undefined
      : this.endpoint(`inbound.${self.service}`, appAddress, 'app', timeouts.connectMs, undefined);
    // The AccessPolicy, compiled once here; nothing to enforce leaves it out of the chain.
    const accessSpec = snapshot.inbound?.access;
    const access = accessSpec === undefined ? undefined : new AccessControl(accessSpec, self.namespace);
    if (app === undefined) return { timeouts, app, routes: [], defaultRoute: undefined, access };
    const target = new SingleCallTarget(app.destination);
    const bucket = this.bucket('inbound', policy?.rateLimit);
    const denied = access === undefined || access.allowsAll ? undefined : this.#ctx.metrics.authzDeniedCounter(self.service);
    // Only the built-in retry of a request that never reached the app: an HTTP/2 stream the app
    // refused, or sent on a connection its GOAWAY was closing (grpc-js's max_connection_age).
    const neverSent = compileRetry(undefined, undefined, env, (ratio, minPerSecond) =>
      this.#ctx.policyStates.get('inbound:budget', { ratio, minPerSecond }, this.policyKeys, () => new RetryBudget(ratio, minPerSecond, env.clock)));
    const route = (name: string, spec: RouteSpec | undefined): InboundRoute => {
      const routeTimeouts = compileTimeouts(policy?.timeout, spec?.timeout);
      return {
        name,
        match: spec === undefined ? { path: undefined, pathPrefix: undefined, methods: undefined } : routeMatch(spec),
        timeouts: routeTimeouts,
        chain: chain([
          // First: a denied call spends no token and never reaches the app.
          (next) => (access === undefined || denied === undefined ? undefined : new AuthorizeStep(env, access, self.service, denied, next)),
          (next) => (bucket === undefined ? undefined : new RateLimitStep(env, [bucket], `inbound ${self.service}`, next)),
          (next) => new DeadlineStep(env, next),
          (next) => new BodyStep(false, next, true),
        ], new DispatchStep(env, { target, timeouts: routeTimeouts, retry: neverSent, propagateDeadline: false, traceAttempts: false })),
      };
    };
    return { timeouts, app, routes: (policy?.routes ?? []).map((r) => route(r.name, r)), defaultRoute: route('default', undefined), access };
  }
}

/**
 * Targets for calls to one endpoint's own address, each built on first use and kept for the
 * snapshot's life: most endpoints are never called by address, and a snapshot may list thousands.
 * Their budgets, buckets and limiters are the service's (the same state keys), so building one late
 * creates no state the snapshot swap does not know of.
 */
function pinnedTargets(addresses: ReadonlyMap<string, { owner: ServiceTarget; spec: ServiceSpec }>, compiler: SnapshotCompiler): (address: string) => ServiceTarget | undefined {
  const built = new Map<string, ServiceTarget>();
  return (address) => {
    const cached = built.get(address);
    if (cached !== undefined) return cached;
    const entry = addresses.get(address);
    const endpoint = entry?.owner.endpoints.find((e) => e.address.toLowerCase() === address);
    if (entry === undefined || endpoint === undefined) return undefined;
    const { routes: _routes, defaultRoute: _default, routing: _routing, ports: _ports, ...service } = entry.owner;
    // One endpoint: the balancer has no choice; with its breaker open the call still goes (panic),
    // since the app asked for this pod and no other.
    const base = { ...service, endpoints: [endpoint], callTarget: new ServiceCallTarget(service.id, [endpoint], new RoundRobinBalancer([endpoint])) };
    const target: ServiceTarget = { ...base, routes: [], defaultRoute: compiler.route(entry.spec, service.id, 'default', undefined, base), routing: undefined, ports: undefined };
    built.set(address, target);
    return target;
  };
}

export function compileSnapshot(snapshot: Snapshot, ctx: CompileContext): CompiledSnapshot {
  // The bundle first: the pools built below are keyed by the TLS generation it may start.
  ctx.meshTls?.setBundle(snapshot.identity?.roots);
  const compiler = new SnapshotCompiler(ctx);
  const hosts = new Map<string, ServiceTarget>();
  const addresses = new Map<string, { owner: ServiceTarget; spec: ServiceSpec }>();
  const services: ServiceTarget[] = [];
  // Every service first: an HTTPRoute rule's backends are other services' call targets.
  const byId = new Map<string, ServiceTarget>();
  for (const spec of snapshot.services) {
    const target = compiler.service(spec);
    if (!byId.has(target.id)) byId.set(target.id, target);
  }
  for (const spec of snapshot.services) {
    let target = byId.get(`${spec.name}.${spec.namespace}`) as ServiceTarget;
    if (spec.routing !== undefined && target.routing === undefined) {
      target = { ...target, routing: compileRouting(spec, target, byId, compiler, ctx) };
      byId.set(target.id, target);
    }
    if (spec.ports?.some((p) => p.routing !== undefined) && target.ports !== undefined) {
      const ports = new Map<number, ServiceTarget>();
      for (const [port, portTarget] of target.ports) {
        const routing = spec.ports.find((p) => p.port === port)?.routing;
        ports.set(port, routing === undefined ? portTarget : { ...portTarget, routing: compileRouting({ ...spec, routing }, portTarget, byId, compiler, ctx) });
      }
      target = { ...target, ports };
      byId.set(target.id, target);
    }
    services.push(target);
    // A pod's address reaches the port target it backs (the first port's for the service's own endpoints).
    for (const [endpoints, owner] of [[spec.endpoints, target] as const, ...(spec.ports ?? []).map((p) => [p.endpoints, target.ports?.get(p.port) ?? target] as const)]) {
      for (const endpoint of endpoints) {
        const address = endpoint.address.toLowerCase();
        if (!addresses.has(address)) addresses.set(address, { owner, spec });
      }
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
    pinned: pinnedTargets(addresses, compiler),
    services,
    passthrough: snapshot.outbound?.passthrough ?? true,
    inbound,
    poolKeys: compiler.poolKeys,
    endpointKeys: compiler.endpointKeys,
    policyKeys: compiler.policyKeys,
  };
}
