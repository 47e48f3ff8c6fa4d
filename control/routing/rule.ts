// One HTTPRoute or GRPCRoute rule compiled into what the sidecar applies once a match picked it: its name (the
// `route` metric label), where it came from, its backends, filters, timeouts and retry policy in
// Petrel's own TimeoutSpec/RetrySpec shapes. Petrel's budgets, breakers and jitter bounds keep coming
// from the ResiliencePolicy; the sidecar lays these fields over it.
import type { GrpcRouteRule, HttpRouteRule, RetrySpec, RouteRuleSpec, TimeoutSpec } from '../../api/types.ts';
import { resolveBackends } from './backends.ts';
import { compileFilters } from './filters.ts';
import { ruleOverlay, type RoutePolicies } from './rule-policy.ts';
import type { PortsOf, StoredRoute } from './stored-route.ts';

/** GEP-995: the rule's own name, else "<route>.<index>" so every rule has a stable label. */
export const ruleName = (route: StoredRoute, rule: { name?: string }, index: number): string => rule.name ?? `${route.name}.${index}`;

/**
 * GEP-1742: request -> total, backendRequest -> perTry (one try). "0s" means no timeout, and it stays
 * in the snapshot as "0s": the rule's "no timeout" must override a timeout its Service's policy sets,
 * and the sidecar reads a zero perTry or total as none.
 */
export function compileTimeouts(t: HttpRouteRule['timeouts']): TimeoutSpec | undefined {
  if (t === undefined) return undefined;
  const out: TimeoutSpec = {};
  if (t.backendRequest !== undefined) out.perTry = t.backendRequest;
  if (t.request !== undefined) out.total = t.request;
  return Object.keys(out).length ? out : undefined;
}

/**
 * GEP-1731: `attempts` counts retries only, Petrel's attempts count tries (+1); `codes` are the
 * statuses that may be retried (Petrel's `on` takes them as strings); `backoff` is the minimum delay
 * between tries, which is the base of Petrel's exponential backoff with jitter.
 */
export function compileRetry(r: HttpRouteRule['retry']): RetrySpec | undefined {
  if (r === undefined) return undefined;
  const out: RetrySpec = {};
  if (r.attempts !== undefined) out.attempts = r.attempts + 1;
  if (r.codes !== undefined) out.on = r.codes.map(String);
  if (r.backoff !== undefined) out.backoff = { strategy: 'exponential-jitter', base: r.backoff };
  return Object.keys(out).length ? out : undefined;
}

/**
 * The rule, with a fixed key order (the snapshot is hashed). A rule that has no backends to call and
 * no redirect answering for it is `unresolved` (500, as the spec says for a rule whose backends are all
 * invalid and which has no filters). A redirect needs no backend, so it is never marked unresolved:
 * the sidecar would otherwise answer 500 where the spec answers the redirect. A GRPCRoute rule has
 * no timeouts, retry, redirect or rewrite (the spec defines none); an unresolved one answers 500 NC,
 * which the sidecar sends a gRPC caller as UNAVAILABLE, the status the GRPCRoute spec asks for.
 */
export function compileRule(route: StoredRoute, rule: Omit<HttpRouteRule, 'matches'> | Omit<GrpcRouteRule, 'matches'>, index: number, portsOf: PortsOf, warn: (why: string) => void, policies?: RoutePolicies): RouteRuleSpec {
  const at = `${route.kind} ${route.key} rule ${index}`;
  const filters = compileFilters(rule.filters, route.namespace, portsOf, (why) => warn(`${at}: ${why}`));
  let { backends, unresolved, invalid } = resolveBackends(rule.backendRefs, route.namespace, portsOf);
  if (unresolved === undefined && !rule.backendRefs?.length) unresolved = 'the rule has no backendRefs';
  if (filters?.redirect && unresolved !== undefined) {
    if (rule.backendRefs?.length) warn(`${at}: ${unresolved}; the rule redirects, so it does not call them`);
    unresolved = undefined;
  }
  if (filters?.redirect) invalid = undefined;
  const own = {
    ...('timeouts' in rule && rule.timeouts !== undefined ? { timeout: compileTimeouts(rule.timeouts) } : {}),
    ...('retry' in rule && rule.retry !== undefined ? { retry: compileRetry(rule.retry) } : {}),
  };
  const name = ruleName(route, rule, index);
  const { timeout, retry, rateLimit, fault, sources } = ruleOverlay(route, rule.name, name, JSON.parse(JSON.stringify(own)) as typeof own, policies);
  return {
    name,
    source: at,
    backends,
    ...(unresolved !== undefined ? { unresolved } : {}),
    ...(invalid !== undefined ? { invalid } : {}),
    ...(filters ? { filters } : {}),
    ...(timeout ? { timeout } : {}),
    ...(retry ? { retry } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(fault ? { fault } : {}),
    ...(sources ? { sources } : {}),
  };
}
