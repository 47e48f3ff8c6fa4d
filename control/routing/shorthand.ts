// ResiliencePolicy `routes:` is a shorthand for per-path policy on a Service without HTTPRoutes. On a
// Service that also has HTTPRoutes it is ambiguous: two sets of named routes would both claim a
// request (which `route` label, which timeout?). For now the HTTPRoutes win and the shorthand routes
// are dropped for that Service, with a warning the control plane logs; the rest of the
// ResiliencePolicy (retry budget, breaker, ...) still applies. Whether the ResiliencePolicy should be
// refused instead (an error on its source) is the lead's call: the sources own those errors, and they
// do not know which Services have routes.
import type { PolicySpec } from '../../api/types.ts';

/** The policy without its `routes` when the Service has routing; the warning to log, if any. */
export function withoutShorthandRoutes(service: string, namespace: string, policy: PolicySpec | undefined, hasRouting: boolean): { policy: PolicySpec | undefined; warning?: string } {
  if (!hasRouting || policy?.routes === undefined) return { policy };
  const { routes, ...rest } = policy;
  const names = routes.map((r) => r.name).join(', ');
  return {
    policy: Object.keys(rest).length ? rest : undefined,
    warning: `ResiliencePolicy routes (${names}) ignored for Service ${namespace}/${service}: it has HTTPRoutes, which decide its routes; move the per-route settings to the HTTPRoute rules`,
  };
}
