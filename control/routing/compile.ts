// Every Service's routing: the HTTPRoutes and GRPCRoutes whose parentRefs name it, compiled into the RoutingSpec a
// sidecar applies to calls to that Service (api/types.ts). Pure and deterministic: the same routes
// and services give the same specs, in the same key order, whatever order they came in.
import type { RouteRuleSpec, RoutingSpec } from '../../api/types.ts';
import { attachments } from './attach.ts';
import { creationMillis, grpcRank, normalizeGrpcMatch, normalizeMatch, orderMatches, type RankedMatch } from './precedence.ts';
import { compileRule } from './rule.ts';
import type { RoutePolicies } from './rule-policy.ts';
import { serviceKey, type RoutingService, type StoredRoute } from './stored-route.ts';

/** Locally a Service has one port (DESIGN.md), 80 unless the sidecar's --service-port says otherwise. */
export const DEFAULT_SERVICE_PORT = 80;

interface CompiledRoute {
  route: StoredRoute;
  created: number | undefined;
  rules: RouteRuleSpec[];
}

/**
 * Routing by parent Service, keyed "name.namespace", in key order. A parent need not be in
 * `services`: routes may be applied before the Service's pods start, and the sidecar must already
 * answer by them. `services` only gives ports (a Service without one has `defaultPort`). Problems that
 * leave a route valid but partly unused (a parentRef that attaches nowhere, an unresolvable mirror)
 * go to `warn`; the control plane logs them.
 *
 * HTTPRoutes and GRPCRoutes on the same Service: GEP-1294 ("Route types") says that when routes of
 * different types bind to the same Service and port, only one type applies, GRPCRoute before
 * HTTPRoute, and the others are ignored (Accepted: False, reason Conflicted); the GRPCRoute spec adds
 * that the two kinds are never merged. So a Service with any GRPCRoute attached is routed by its
 * GRPCRoutes only, and each HTTPRoute attached to it is left out for that Service with a warning
 * (it still applies to its other parents).
 */
export function compileRouting(routes: readonly StoredRoute[], services: readonly RoutingService[], defaultPort = DEFAULT_SERVICE_PORT, warn: (message: string) => void = () => {}, policies?: RoutePolicies): Map<string, RoutingSpec> {
  const ports = new Map<string, number>();
  for (const s of services) if (s.port !== undefined) ports.set(serviceKey(s.name, s.namespace), s.port);
  const portOf = (name: string, namespace: string) => ports.get(serviceKey(name, namespace)) ?? defaultPort;

  // Routes in tie-break order (oldest, then "namespace/name", then kind), so that `rules` lists them
  // the way a reader expects; the matches carry the real precedence.
  const compiled: CompiledRoute[] = [...routes]
    .map((route) => ({ route, created: creationMillis(route.creationTimestamp), rules: [] as RouteRuleSpec[] }))
    .sort((a, b) => (a.created === b.created ? 0 : a.created === undefined ? 1 : b.created === undefined ? -1 : a.created - b.created)
      || codepoint(a.route.key, b.route.key) || codepoint(a.route.kind, b.route.kind));

  const attached = compiled.map((c) => ({ c, parents: attachments(c.route, portOf, warn) }));
  const grpcParents = new Set<string>();
  for (const { c, parents } of attached) if (c.route.kind === 'GRPCRoute') for (const p of parents) grpcParents.add(p.key);

  const byParent = new Map<string, { rules: RouteRuleSpec[]; ranked: RankedMatch[] }>();
  for (const { c, parents } of attached) {
    if (parents.length === 0) continue;
    // Compiled once per route, shared by its parents (the rules do not depend on the parent).
    c.rules = (c.route.spec.rules ?? []).map((rule, i) => compileRule(c.route, rule, i, portOf, warn, policies));
    const ranked = rankedOf(c, warn);
    for (const parent of parents) {
      if (c.route.kind === 'HTTPRoute' && grpcParents.has(parent.key)) {
        warn(`HTTPRoute ${c.route.key}: not applied to Service ${parent.namespace}/${parent.name}, which has GRPCRoutes: a Service is routed by one route type, GRPCRoute first (GEP-1294, Conflicted)`);
        continue;
      }
      let entry = byParent.get(parent.key);
      if (entry === undefined) byParent.set(parent.key, (entry = { rules: [], ranked: [] }));
      const offset = entry.rules.length;
      entry.rules.push(...c.rules);
      for (const r of ranked) entry.ranked.push({ ...r, rule: offset + r.ruleIndex });
    }
  }

  const out = new Map<string, RoutingSpec>();
  for (const key of [...byParent.keys()].sort()) {
    const entry = byParent.get(key)!;
    out.set(key, { matches: orderMatches(entry.ranked).map((r) => ({ match: r.match, rule: r.rule })), rules: entry.rules });
  }
  return out;
}

const codepoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Every match of every rule of a route, `rule` relative to the route (the caller offsets it). */
function rankedOf(c: CompiledRoute, warn: (message: string) => void): RankedMatch[] {
  const out: RankedMatch[] = [];
  const base = { routeKey: c.route.key, created: c.created };
  if (c.route.kind === 'HTTPRoute') {
    (c.route.spec.rules ?? []).forEach((rule, ruleIndex) => {
      // No matches: the implicit PathPrefix "/" (spec default), which takes every request.
      const matches = rule.matches?.length ? rule.matches : [undefined];
      matches.forEach((m, matchIndex) => out.push({ ...base, match: normalizeMatch(m), rule: ruleIndex, ruleIndex, matchIndex }));
    });
    return out;
  }
  const route = c.route;
  (route.spec.rules ?? []).forEach((rule, ruleIndex) => {
    // No matches: every gRPC call (spec: "the implementation MUST match every gRPC request").
    const matches = rule.matches?.length ? rule.matches : [undefined];
    matches.forEach((m, matchIndex) => {
      const match = normalizeGrpcMatch(m);
      if (match === undefined) return warn(`GRPCRoute ${route.key} rule ${ruleIndex}: matches[${matchIndex}]: a method match without service is not supported yet; left out`);
      out.push({ ...base, match, rule: ruleIndex, ruleIndex, matchIndex, grpc: grpcRank(m) });
    });
  });
  return out;
}
