// The order in which a sidecar tries the matches of the routes attached to one Service. The Gateway
// API (HTTPRouteRule.matches) orders them, across every rule of every attached route, by:
//   1. an "Exact" path match;
//   2. a "PathPrefix" path match with the largest number of characters;
//   3. a method match;
//   4. the largest number of header matches;
//   5. the largest number of query param matches;
// then, on ties across routes, the oldest route (creationTimestamp), then the route first in
// alphabetical order by "{namespace}/{name}"; within a route, the first rule in list order. Petrel
// also orders the matches of one rule by their list order, so that the result is a total order and the
// snapshot (hashed by the control plane) is the same for the same inputs.
//
// GRPCRoute matches (GRPCRouteRule.matches) have their own order: the most characters in a matching
// service, then in a matching method, then the most header matches (hostnames do not apply to a
// mesh route), then the same tie-breaks. They are compiled to path matches (normalizeGrpcMatch) but
// ranked by what the user wrote (RankedMatch.grpc). The two orders never meet: a Service's routing
// holds the matches of one route kind only (compile.ts, GEP-1294).
import type { GrpcRouteMatch, HttpRouteMatch, RouteMatchSpec } from '../../api/types.ts';

/** One match of one rule, with what the tie-breaks need. */
export interface RankedMatch {
  match: RouteMatchSpec;
  /** The rule's index in RoutingSpec.rules. */
  rule: number;
  /** "namespace/name" of the route. */
  routeKey: string;
  /** Milliseconds since the epoch; undefined when unknown. */
  created: number | undefined;
  ruleIndex: number;
  matchIndex: number;
  /** A GRPCRoute match: the characters of its service and method, which its precedence counts. */
  grpc?: { service: number; method: number };
}

/**
 * The match as the sidecar applies it, with the spec's defaults written out: a match without a path
 * is a PathPrefix "/" (kubebuilder default of HTTPRouteMatch.path), a path without type is a
 * PathPrefix. Values are recorded as given: PathPrefix matching is by path element ("/foo" takes
 * "/foo" and "/foo/bar", not "/foobar"), which the sidecar implements.
 */
export function normalizeMatch(m: HttpRouteMatch | undefined): RouteMatchSpec {
  const out: RouteMatchSpec = { path: { type: m?.path?.type ?? 'PathPrefix', value: m?.path?.value ?? '/' } };
  if (m?.method !== undefined) out.method = m.method;
  if (m?.headers?.length) out.headers = m.headers.map((h) => ({ name: h.name, value: h.value }));
  if (m?.queryParams?.length) out.queryParams = m.queryParams.map((q) => ({ name: q.name, value: q.value }));
  return out;
}

/**
 * A GRPCRoute match as a path match: a gRPC call is an HTTP/2 POST to /<service>/<method>. Service and
 * method: Exact "/<service>/<method>"; a service alone: PathPrefix "/<service>" (by path element, so
 * "/pkg.Svc" does not take "/pkg.SvcV2/M"); no method match: PathPrefix "/", every call. POST is not
 * added as a method match: every gRPC call is one, and a method match would change the HTTP order's
 * meaning for nothing. A method without a service is refused by validation (not one path match);
 * here it gives undefined, and the caller leaves the match out.
 */
export function normalizeGrpcMatch(m: GrpcRouteMatch | undefined): RouteMatchSpec | undefined {
  const service = m?.method?.service;
  const method = m?.method?.method;
  if (service === undefined && method !== undefined) return undefined;
  const out: RouteMatchSpec = {
    path: service === undefined ? { type: 'PathPrefix', value: '/' }
      : method === undefined ? { type: 'PathPrefix', value: `/${service}` }
        : { type: 'Exact', value: `/${service}/${method}` },
  };
  if (m?.headers?.length) out.headers = m.headers.map((h) => ({ name: h.name, value: h.value }));
  return out;
}

/** What the GRPCRoute precedence counts of a match: the characters of its service and method. */
export function grpcRank(m: GrpcRouteMatch | undefined): { service: number; method: number } {
  return { service: m?.method?.service?.length ?? 0, method: m?.method?.method?.length ?? 0 };
}

/**
 * creationTimestamp in milliseconds. Locally a route's file position is not a time, so a route
 * without one (or with one that does not parse) is "unknown": it sorts after every route whose age is
 * known (it cannot claim to be older), and equal to the other unknown ones, which keeps the order total.
 */
export function creationMillis(timestamp: string | undefined): number | undefined {
  if (timestamp === undefined) return undefined;
  const ms = Date.parse(timestamp);
  return Number.isNaN(ms) ? undefined : ms;
}

const codepointOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Negative when `a` takes precedence over `b`. */
export function compareMatches(a: RankedMatch, b: RankedMatch): number {
  if (a.grpc !== undefined && b.grpc !== undefined) return compareGrpcMatches(a, b, a.grpc, b.grpc);
  const pa = a.match.path;
  const pb = b.match.path;
  const exactA = pa?.type === 'Exact' ? 1 : 0;
  const exactB = pb?.type === 'Exact' ? 1 : 0;
  if (exactA !== exactB) return exactB - exactA;
  // Characters count for prefixes only: two different Exact paths never match the same request.
  if (exactA === 0 && pa && pb && pa.value.length !== pb.value.length) return pb.value.length - pa.value.length;
  const methodA = a.match.method === undefined ? 0 : 1;
  const methodB = b.match.method === undefined ? 0 : 1;
  if (methodA !== methodB) return methodB - methodA;
  const headers = (b.match.headers?.length ?? 0) - (a.match.headers?.length ?? 0);
  if (headers !== 0) return headers;
  const query = (b.match.queryParams?.length ?? 0) - (a.match.queryParams?.length ?? 0);
  if (query !== 0) return query;
  return compareTies(a, b);
}

/** GRPCRouteRule.matches: service characters, method characters, header matches; then the ties. */
function compareGrpcMatches(a: RankedMatch, b: RankedMatch, ga: { service: number; method: number }, gb: { service: number; method: number }): number {
  return gb.service - ga.service || gb.method - ga.method || (b.match.headers?.length ?? 0) - (a.match.headers?.length ?? 0) || compareTies(a, b);
}

/** Across routes the oldest, then "namespace/name"; within a route rule order, then match order. */
function compareTies(a: RankedMatch, b: RankedMatch): number {
  if (a.created !== b.created) {
    if (a.created === undefined) return 1;
    if (b.created === undefined) return -1;
    return a.created - b.created;
  }
  // Alphabetical by code point, not locale: every control plane replica must agree.
  return codepointOrder(a.routeKey, b.routeKey) || a.ruleIndex - b.ruleIndex || a.matchIndex - b.matchIndex;
}

/** The matches in precedence order (a copy). */
export function orderMatches(matches: readonly RankedMatch[]): RankedMatch[] {
  return [...matches].sort(compareMatches);
}
