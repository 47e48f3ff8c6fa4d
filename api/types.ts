// Wire types: what a ResiliencePolicy spec and a sidecar snapshot look like as JSON/YAML.
// They mirror api/policy-schema.ts and api/snapshot-schema.ts; the sidecar compiles them into
// runtime objects once per snapshot (sidecar/config/compile.ts) and never reads them per request.

export interface TimeoutSpec { connect?: string; perTry?: string; total?: string }

export interface RetrySpec {
  attempts?: number;
  on?: string[];
  backoff?: { strategy?: 'fixed' | 'exponential' | 'exponential-jitter'; base?: string; max?: string };
  budget?: { ratio?: number; minPerSecond?: number };
  nonIdempotent?: boolean;
}

export interface CircuitBreakerSpec {
  consecutiveFailures?: number;
  failureRate?: { threshold?: number; window?: string; minRequests?: number };
  openFor?: string;
  maxOpenFor?: string;
  halfOpenProbes?: number;
}

export interface RateLimitSpec { requestsPerSecond: number; burst?: number }
export interface ConcurrencySpec { maxRequests?: number; maxPending?: number }
export interface LoadBalancerSpec { policy?: 'round-robin' | 'least-request' | 'ewma'; panicThreshold?: number }
export interface FaultSpec {
  delay?: { duration: string; percent: number };
  abort?: { status: number; percent: number };
}

export interface RouteSpec {
  name: string;
  match?: { pathPrefix?: string; path?: string; methods?: string[] };
  timeout?: TimeoutSpec;
  retry?: RetrySpec;
  rateLimit?: RateLimitSpec;
  fault?: FaultSpec;
}

/** The policy body: a ResiliencePolicy spec without targetRef, as merged into a snapshot. */
export interface PolicySpec {
  timeout?: TimeoutSpec;
  retry?: RetrySpec;
  circuitBreaker?: CircuitBreakerSpec;
  rateLimit?: RateLimitSpec;
  concurrency?: ConcurrencySpec;
  loadBalancer?: LoadBalancerSpec;
  fault?: FaultSpec;
  routes?: RouteSpec[];
}

/**
 * What a policy applies to (api/target-ref-schema.ts): a Service (group ""), or an HTTPRoute or
 * GRPCRoute (group gateway.networking.k8s.io), whole or one rule of it named by `sectionName`.
 */
export interface PolicyTargetRef {
  group?: string;
  kind: 'Service' | 'HTTPRoute' | 'GRPCRoute';
  name: string;
  sectionName?: string;
}

export interface ResiliencePolicySpec extends PolicySpec {
  targetRef?: PolicyTargetRef;
}

export interface EndpointSpec {
  /** host:port of the endpoint's inbound sidecar. */
  address: string;
  /** The pod (or local process) behind it, for status and metrics. */
  name?: string;
  /** The SPIFFE identity its sidecar must present (mTLS); absent means plaintext. */
  identity?: string;
}

/** Callers an AccessPolicy rule allows (api/access-policy-schema.ts). */
export interface AccessRuleSpec {
  from?: { serviceAccounts?: string[]; namespaces?: string[] };
  to?: { paths?: string[]; methods?: string[] };
}

/** What the sidecar of a protected service enforces on calls it receives. */
export interface AccessSpec {
  mtls: 'strict' | 'permissive';
  /** Present (even empty): deny unless one rule matches. Absent: allow every caller. */
  rules?: AccessRuleSpec[];
  /**
   * AccessPolicies that target a route or route rule: a call that matches one of `matches` must also
   * be allowed by one of `rules` (on top of `rules` above, never instead of them).
   */
  scoped?: ScopedAccessSpec[];
}

/** The callers allowed for the calls one route rule sends to this service. */
export interface ScopedAccessSpec {
  /** "AccessPolicy ns/name -> HTTPRoute ns/route rule R", for logs and /config_dump. */
  source: string;
  /** The rule's matches as the callee sees the request (after the rule's URLRewrite). */
  matches: RouteMatchSpec[];
  rules: AccessRuleSpec[];
}

/** An AccessPolicy resource's spec (api/access-policy-schema.ts). */
export interface AccessPolicySpec {
  /** The protected service, or route (rule); absent: the namespace default, for every service of the namespace. */
  targetRef?: PolicyTargetRef;
  /** Default permissive. */
  mtls?: 'strict' | 'permissive';
  rules?: AccessRuleSpec[];
}

/** The mesh trust bundle a snapshot carries. */
export interface IdentitySpec {
  trustDomain: string;
  /** PEM roots: the issuer's, and the previous one's during a rotation. */
  roots: string[];
}

/** One match of an HTTPRoute rule (Gateway API HTTPRouteMatch, the subset Petrel implements). */
export interface RouteMatchSpec {
  path?: { type: 'Exact' | 'PathPrefix'; value: string };
  method?: string;
  /** Exact matches; names compared case-insensitively. */
  headers?: { name: string; value: string }[];
  /** Exact matches; names case-sensitive. */
  queryParams?: { name: string; value: string }[];
}

/** A resolved backendRef: another mesh service (in this snapshot's `services`) and its weight. */
export interface RouteBackendSpec {
  service: string;
  namespace: string;
  /** The Service port whose endpoints take the call, when the service lists `ports`; absent: its first port. */
  port?: number;
  weight: number;
}

export interface HeaderModifierSpec {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export interface PathModifierSpec {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  /** ReplaceFullPath: the new path; ReplacePrefixMatch: what replaces the matched prefix. */
  value: string;
}

/** A rule's filters (Gateway API HTTPRouteFilter), compiled apart by kind. */
export interface RouteFiltersSpec {
  requestHeaders?: HeaderModifierSpec;
  responseHeaders?: HeaderModifierSpec;
  /** Answered by the caller's sidecar: no backend is called. */
  redirect?: { scheme?: 'http' | 'https'; hostname?: string; path?: PathModifierSpec; port?: number; statusCode: 301 | 302 | 303 | 307 | 308 };
  rewrite?: { hostname?: string; path?: PathModifierSpec };
  /** Fire-and-forget copies to another service. */
  mirror?: { service: string; namespace: string; port?: number; percent: number }[];
}

/** One rule of the routes attached to a service, as the sidecar applies it. */
export interface RouteRuleSpec {
  /** The `route` metric label and trace attribute: the rule's name, else "<route>.<index>". */
  name: string;
  /** Where it came from, for /config_dump and logs: "HTTPRoute ns/name rule N". */
  source: string;
  /** Weighted backends; empty (with `unresolved`) answers 500 as the Gateway API says. */
  backends: RouteBackendSpec[];
  /** Why the backends cannot be resolved (a missing service, another kind): the rule answers 500. */
  unresolved?: string;
  /**
   * Some backendRefs are invalid and others are not: their share of the weight (out of the valid
   * backends' weights plus this) is answered 500, as the Gateway API says, and `why` names them.
   */
  invalid?: { weight: number; why: string };
  filters?: RouteFiltersSpec;
  /** timeouts.request -> total, timeouts.backendRequest -> perTry; "0s" is dropped (no timeout). */
  timeout?: TimeoutSpec;
  /** retry: attempts (Gateway API retries + 1), on (codes), backoff.base (the minimum delay). */
  retry?: RetrySpec;
  /** From ResiliencePolicies that target the route or this rule. */
  rateLimit?: RateLimitSpec;
  fault?: FaultSpec;
  /** Where each field above came from, by field path ("retry.attempts"): a route, a ResiliencePolicy. */
  sources?: Record<string, string>;
}

/**
 * The HTTPRoutes (GAMMA) attached to a service, compiled by the control plane: every match of every
 * rule, already in the Gateway API's precedence order (the sidecar takes the first that matches), each
 * pointing at its rule. A service with routing answers 404 NR to a call no match takes.
 */
export interface RoutingSpec {
  matches: { match: RouteMatchSpec; rule: number }[];
  rules: RouteRuleSpec[];
}

/**
 * One port of a Service that has several: a call on `port` goes to these endpoints (in Kubernetes
 * each pod's address and the target port behind this Service port) under this routing.
 */
export interface ServicePortSpec {
  port: number;
  name?: string;
  /** The Service port's appProtocol (e.g. kubernetes.io/h2c), as Kubernetes gives it. */
  appProtocol?: string;
  endpoints: EndpointSpec[];
  /** The routes attached to this port (parentRefs without port, or with this one); absent: none. */
  routing?: RoutingSpec;
}

export interface ServiceSpec {
  name: string;
  namespace: string;
  /** Authorities that reach this service, besides name, name.ns, name.ns.svc and name.ns.svc.cluster.local: its ClusterIPs. */
  hosts?: string[];
  /** The endpoints of its first port, which also takes calls on a port the service does not list. */
  endpoints: EndpointSpec[];
  policy?: PolicySpec;
  /** Where each field of `policy` came from, by field path ("retry.attempts"): a ResiliencePolicy, a namespace default. */
  policySources?: Record<string, string>;
  /** HTTPRoutes attached to its first port; absent: no route, the service's policy routes apply. */
  routing?: RoutingSpec;
  /** Present when the Service has several ports: each port's endpoints and routing, in the Service's order. */
  ports?: ServicePortSpec[];
}

/** What the control plane pushes to one sidecar, and what `petrel sidecar --config FILE` loads. */
export interface Snapshot {
  apiVersion: 'petrel.dev/v1alpha1';
  kind: 'SidecarSnapshot';
  /** Monotonically increasing; a sidecar reports the version it applied. */
  version: number;
  /** The sidecar this snapshot was compiled for; checked against --service when present. */
  node?: { service: string; namespace?: string };
  identity?: IdentitySpec;
  inbound?: { policy?: PolicySpec; access?: AccessSpec };
  outbound?: { passthrough?: boolean };
  services: ServiceSpec[];
}

// ---- Gateway API HTTPRoute (gateway.networking.k8s.io/v1), the subset Petrel implements ----

export interface HttpRouteParentRef { group?: string; kind?: string; namespace?: string; name: string; port?: number; sectionName?: string }
export interface HttpRouteBackendRef { group?: string; kind?: string; namespace?: string; name: string; port?: number; weight?: number; filters?: unknown[] }
export interface HttpHeaderMatch { type?: 'Exact'; name: string; value: string }
export interface HttpRouteMatch {
  path?: { type?: 'Exact' | 'PathPrefix'; value?: string };
  headers?: HttpHeaderMatch[];
  queryParams?: HttpHeaderMatch[];
  method?: string;
}
export interface HttpHeaderFilter { set?: { name: string; value: string }[]; add?: { name: string; value: string }[]; remove?: string[] }
export interface HttpPathModifier { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string; replacePrefixMatch?: string }
export interface HttpRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestRedirect' | 'URLRewrite' | 'RequestMirror';
  requestHeaderModifier?: HttpHeaderFilter;
  responseHeaderModifier?: HttpHeaderFilter;
  requestRedirect?: { scheme?: 'http' | 'https'; hostname?: string; path?: HttpPathModifier; port?: number; statusCode?: 301 | 302 | 303 | 307 | 308 };
  urlRewrite?: { hostname?: string; path?: HttpPathModifier };
  requestMirror?: { backendRef: HttpRouteBackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
}
export interface HttpRouteRule {
  name?: string;
  matches?: HttpRouteMatch[];
  filters?: HttpRouteFilter[];
  backendRefs?: HttpRouteBackendRef[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
}
export interface HttpRouteSpec {
  parentRefs?: HttpRouteParentRef[];
  hostnames?: string[];
  rules?: HttpRouteRule[];
}

// ---- Gateway API GRPCRoute (gateway.networking.k8s.io/v1, GEP-1016), the subset Petrel implements ----

export interface GrpcRouteMatch {
  method?: { type?: 'Exact'; service?: string; method?: string };
  headers?: HttpHeaderMatch[];
}
/** The GRPCRoute filters: HTTPRouteFilter's header modifiers and mirror, same shapes. */
export interface GrpcRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestMirror';
  requestHeaderModifier?: HttpHeaderFilter;
  responseHeaderModifier?: HttpHeaderFilter;
  requestMirror?: { backendRef: HttpRouteBackendRef; percent?: number; fraction?: { numerator: number; denominator?: number } };
}
export interface GrpcRouteRule {
  name?: string;
  matches?: GrpcRouteMatch[];
  filters?: GrpcRouteFilter[];
  backendRefs?: HttpRouteBackendRef[];
}
export interface GrpcRouteSpec {
  parentRefs?: HttpRouteParentRef[];
  hostnames?: string[];
  rules?: GrpcRouteRule[];
}
