// Compiles a service's HTTPRoutes (the control plane's RoutingSpec) into matches and rule chains.
// Each rule gets the service's policy with the rule's timeouts, retry, rate limit and fault on top (route layering, as
// for a ResiliencePolicy route), and dispatches to its weighted backends: other services' call
// targets, each with its own endpoints, balancer and breakers. A rule that cannot send anywhere (its
// backends could not be resolved, or every weight is 0) answers 500 NC, as the Gateway API says.
import type { RouteFiltersSpec, RouteSpec, ServiceSpec } from '../../api/types.ts';
import { FailingCallTarget, type CallTarget } from '../balancer/call-target.ts';
import { WeightedCallTarget } from '../balancer/weighted-call-target.ts';
import type { Mirror } from '../chain/mirror-step.ts';
import { ProxyError } from '../proxy/flags.ts';
import { compileMatches } from '../routing/route-match.ts';
import type { CompileContext } from './compile.ts';
import { onPort, type CompiledRouting, type RoutePolicy, type ServiceTarget } from './compiled.ts';

/** What an HTTPRoute rule adds to a route's chain. */
export interface RuleTail {
  target?: CallTarget;
  filters?: RouteFiltersSpec;
  mirrors?: Mirror[];
  fixed?: ProxyError;
}

/** The snapshot compiler's route builder (compile.ts), which this extends with rule tails. */
interface RouteCompiler {
  route(spec: ServiceSpec, id: string, routeName: string, route: RouteSpec, service: ServiceTarget, rule: RuleTail): RoutePolicy;
}

export function compileRouting(spec: ServiceSpec, service: ServiceTarget, byId: ReadonlyMap<string, ServiceTarget>, compiler: RouteCompiler, ctx: CompileContext): CompiledRouting {
  const routing = spec.routing!;
  const rules = routing.rules.map((rule) => {
    let fixed: ProxyError | undefined;
    let target: CallTarget | undefined;
    // A redirect is answered here: it sends to no backend.
    if (rule.filters?.redirect !== undefined) { /* RedirectStep ends the chain */ } else if (rule.unresolved !== undefined) fixed = new ProxyError('NC', `${rule.source}: ${rule.unresolved}`);
    else {
      const backends: { target: CallTarget; weight: number }[] = [];
      for (const b of rule.backends) {
        const service = byId.get(`${b.service}.${b.namespace}`);
        const backend = service === undefined || b.port === undefined ? service : onPort(service, b.port);
        if (backend === undefined) {
          fixed = new ProxyError('NC', `${rule.source}: backend service ${b.service}.${b.namespace} is not in this sidecar's snapshot`);
          break;
        }
        backends.push({ target: backend.callTarget, weight: b.weight });
      }
      if (fixed === undefined && !backends.some((b) => b.weight > 0)) fixed = new ProxyError('NC', `${rule.source}: every backendRef has weight 0 (or there is none)`);
      // The invalid backendRefs' share of the calls is answered 500 (Gateway API), not spread over the others.
      if (fixed === undefined && rule.invalid !== undefined) backends.push({ target: new FailingCallTarget(new ProxyError('NC', `${rule.source}: ${rule.invalid.why}`)), weight: rule.invalid.weight });
      if (fixed === undefined) target = backends.length === 1 ? (backends[0] as { target: CallTarget }).target : new WeightedCallTarget(backends, ctx.env.random);
    }
    const mirrors: Mirror[] = [];
    for (const m of rule.filters?.mirror ?? []) {
      const service = byId.get(`${m.service}.${m.namespace}`);
      const mirror = service === undefined || m.port === undefined ? service : onPort(service, m.port);
      if (mirror === undefined) continue; // nothing to copy to; the control plane lists every mirror service
      mirrors.push({ name: m.service, target: mirror.callTarget, percent: m.percent, count: ctx.metrics.mirrorCounter(ctx.self.service, m.service) });
    }
    const tail: RuleTail = { ...(target ? { target } : {}), ...(rule.filters ? { filters: rule.filters } : {}), ...(fixed ? { fixed } : {}), mirrors };
    const { timeout, retry, rateLimit, fault } = rule;
    const layered: RouteSpec = { name: rule.name, ...(timeout ? { timeout } : {}), ...(retry ? { retry } : {}), ...(rateLimit ? { rateLimit } : {}), ...(fault ? { fault } : {}) };
    return compiler.route(spec, service.id, rule.name, layered, service, tail);
  });
  return { matches: compileMatches(routing), rules };
}
