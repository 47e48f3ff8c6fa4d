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
import type { HttpRouteMatch, RouteMatchSpec } from '../../api/types.ts';

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
