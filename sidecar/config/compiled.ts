// Runtime configuration: what a snapshot compiles into. Immutable once built; a new snapshot builds
// a new CompiledSnapshot and the store swaps the reference, so a request that started on the old
// one finishes on it. Each route carries its chain of steps, built once. Policy objects with state
// (token buckets, retry budgets, concurrency limiters, breakers, latency) outlive snapshots: they
// come from registries keyed by where they apply and by their own settings.
import type { Snapshot } from '../../api/types.ts';
import type { Balancer } from '../balancer/balancer.ts';
import type { ConcurrencyLimiter } from '../policy/concurrency-limiter.ts';
import type { FaultInjector } from '../policy/fault.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import type { TokenBucket } from '../policy/token-bucket.ts';
import type { RouteCounters, StreamMetrics } from '../telemetry/metrics.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { CallTarget } from '../balancer/call-target.ts';
import type { Step } from '../chain/step.ts';
import type { AccessControl } from '../policy/access-control.ts';
import type { CompiledRouteMatch } from '../routing/route-match.ts';

/** Timeouts of one route, in milliseconds; undefined for none. */
export interface Timeouts {
  readonly connectMs: number;
  /** Per attempt, until the response headers. */
  readonly perTryMs: number | undefined;
  /** For the whole request until the response headers, attempts and backoff included. */
  readonly totalMs: number | undefined;
}

/** Everything the pipeline applies to a request on one route. */
export interface RoutePolicy {
  /** The `route` metric label: a route name or "default". */
  readonly name: string;
  readonly timeouts: Timeouts;
  readonly retry: RetryPolicy;
  /** The route's own bucket, on top of the service's. */
  readonly rateLimit: TokenBucket | undefined;
  readonly fault: FaultInjector | undefined;
  readonly metrics: StreamMetrics;
  readonly counters: RouteCounters;
  /** The steps a request on this route passes: rate limit -> concurrency -> fault -> body -> dispatch. */
  readonly chain: Step;
}

export interface RouteMatch {
  readonly path: string | undefined;
  readonly pathPrefix: string | undefined;
  readonly methods: ReadonlySet<string> | undefined;
}

export interface CompiledRoute {
  readonly match: RouteMatch;
  readonly policy: RoutePolicy;
}

export interface ServiceTarget {
  readonly kind: 'service';
  /** "name.namespace" */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly endpoints: readonly Endpoint[];
  readonly balancer: Balancer;
  /** Routes in order; the first match wins, else `defaultRoute`. */
  readonly routes: readonly CompiledRoute[];
  readonly defaultRoute: RoutePolicy;
  readonly rateLimit: TokenBucket | undefined;
  readonly concurrency: ConcurrencyLimiter;
  /** Where the retry loop sends attempts: balancer plus breakers. */
  readonly callTarget: CallTarget;
  /** The HTTPRoutes attached to the service; when present they decide, and `routes` do not apply. */
  readonly routing: CompiledRouting | undefined;
  /**
   * A Service with several ports: each port's own endpoints and routing (same policy, limiters and
   * buckets). This target is the first port's, and takes calls on ports the Service does not list.
   */
  readonly ports: ReadonlyMap<number, ServiceTarget> | undefined;
}

/** The target of a call to `service` on `port`: that port's, else the service's first port's. */
export function onPort(service: ServiceTarget, port: number): ServiceTarget {
  return service.ports?.get(port) ?? service;
}

/** A service's HTTPRoutes: matches in precedence order, each selecting one rule's policy and chain. */
export interface CompiledRouting {
  readonly matches: readonly CompiledRouteMatch[];
  readonly rules: readonly RoutePolicy[];
}

/** One inbound route: its match and its chain (access policy -> rate limit -> caller's deadline -> body -> app). */
export interface InboundRoute {
  readonly match: RouteMatch;
  readonly name: string;
  readonly timeouts: Timeouts;
  readonly chain: Step;
}

/** The local app behind the inbound listener. */
export interface InboundTarget {
  /** The timeouts of the default route; connectMs also serves opaque TCP to the app's host. */
  readonly timeouts: Timeouts;
  /** undefined when the sidecar runs without --app. */
  readonly app: Endpoint | undefined;
  /** This service's own routes (for their timeouts, for callers that send no deadline); first match wins. */
  readonly routes: readonly InboundRoute[];
  /** undefined when there is no app to call. */
  readonly defaultRoute: InboundRoute | undefined;
  /** The AccessPolicy, for opaque TCP (requests meet it in their chain); undefined without one. */
  readonly access: AccessControl | undefined;
}

export interface CompiledSnapshot {
  readonly version: number;
  readonly source: Snapshot;
  /** Lower-case host (no port) -> service. */
  readonly hosts: ReadonlyMap<string, ServiceTarget>;
  /**
   * Endpoint "host:port" (lower case) -> that endpoint alone, as a target: how a connection iptables
   * redirected is routed when its Host names no service (the app called a pod's address directly).
   * The call goes to the pod it named, with its service's policy but none of its routes: the Gateway
   * API applies routes to calls to the Service, not to its pods (MeshFrontend). Built on first use.
   */
  readonly pinned: (address: string) => ServiceTarget | undefined;
  readonly services: readonly ServiceTarget[];
  readonly passthrough: boolean;
  readonly inbound: InboundTarget;
  /** Pool keys this snapshot uses; the registry closes the others after a swap. */
  readonly poolKeys: ReadonlySet<string>;
  /** Endpoint-state keys this snapshot uses; the rest are dropped after a swap. */
  readonly endpointKeys: ReadonlySet<string>;
  /** Policy-state keys (buckets, limiters, budgets) this snapshot uses; the rest are dropped after a swap. */
  readonly policyKeys: ReadonlySet<string>;
}

export function routeMatches(match: RouteMatch, method: string, path: string): boolean {
  if (match.methods !== undefined && !match.methods.has(method)) return false;
  if (match.path !== undefined || match.pathPrefix !== undefined) {
    const q = path.indexOf('?');
    const p = q < 0 ? path : path.slice(0, q);
    if (match.path !== undefined && p !== match.path) return false;
    if (match.pathPrefix !== undefined && !p.startsWith(match.pathPrefix)) return false;
  }
  return true;
}

/** The route policy for a request: the first matching route, else the service default. */
export function matchRoute(service: ServiceTarget, method: string, path: string): RoutePolicy {
  const routes = service.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i] as CompiledRoute;
    if (routeMatches(route.match, method, path)) return route.policy;
  }
  return service.defaultRoute;
}

/** The inbound route for a request, or undefined when there is no app. */
export function matchInboundRoute(inbound: InboundTarget, method: string, path: string): InboundRoute | undefined {
  const routes = inbound.routes;
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i] as InboundRoute;
    if (routeMatches(route.match, method, path)) return route;
  }
  return inbound.defaultRoute;
}
