// The policy a route rule lays over its Service's: a ResiliencePolicy on the whole route, then the
// rule's own timeouts and retry, then a ResiliencePolicy on the rule (targetRef sectionName), field by
// field, each value with its source. Only request-level fields apply to a rule (timeout, retry,
// rateLimit, fault); validation refuses the others on a route target (api/target-ref-check.ts).
import type { FaultSpec, RateLimitSpec, RetrySpec, TimeoutSpec } from '../../api/types.ts';
import { layerPolicies, type PolicyLayer } from '../policy-index.ts';
import type { StoredRoute } from './stored-route.ts';

/** Where the rule compiler finds ResiliencePolicies that target routes (control/policy-index.ts). */
export interface RoutePolicies {
  routePolicy(kind: string, namespace: string, name: string): PolicyLayer | undefined;
  rulePolicy(kind: string, namespace: string, name: string, ruleName: string): PolicyLayer | undefined;
}

export interface RuleOverlay {
  timeout?: TimeoutSpec;
  retry?: RetrySpec;
  rateLimit?: RateLimitSpec;
  fault?: FaultSpec;
  sources?: Record<string, string>;
}

/**
 * `own` is what the rule itself says (compiled from its timeouts and retry); `declaredName` its GEP-995
 * name, which is what a sectionName names (an unnamed rule cannot be targeted by itself).
 */
export function ruleOverlay(route: StoredRoute, declaredName: string | undefined, label: string, own: { timeout?: TimeoutSpec; retry?: RetrySpec }, policies: RoutePolicies | undefined): RuleOverlay {
  const layers: PolicyLayer[] = [];
  const onRoute = policies?.routePolicy(route.kind, route.namespace, route.name);
  if (onRoute !== undefined) layers.push(onRoute);
  if (own.timeout !== undefined || own.retry !== undefined) layers.push({ source: `${route.kind} ${route.key} rule ${label}`, policy: own });
  const onRule = declaredName === undefined ? undefined : policies?.rulePolicy(route.kind, route.namespace, route.name, declaredName);
  if (onRule !== undefined) layers.push(onRule);
  // Without any policy on the route, the rule's fields need no sources: the rule is their source.
  if (onRoute === undefined && onRule === undefined) return own;
  const merged = layerPolicies(layers);
  if (merged === undefined) return {};
  const { timeout, retry, rateLimit, fault } = merged.policy;
  return {
    ...(timeout ? { timeout } : {}),
    ...(retry ? { retry } : {}),
    ...(rateLimit ? { rateLimit } : {}),
    ...(fault ? { fault } : {}),
    sources: merged.sources,
  };
}
