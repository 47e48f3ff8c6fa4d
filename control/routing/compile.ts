// Every Service's routing: the HTTPRoutes and GRPCRoutes whose parentRefs name it, compiled into the RoutingSpec a
// sidecar applies to calls to that Service (api/types.ts). Pure and deterministic: the same routes
// and services give the same specs, in the same key order, whatever order they came in.
import type { RouteRuleSpec, RoutingSpec } from '../../api/types.ts';
import { DEFAULT_SERVICE_PORT } from '../registry.ts';
import { attachments, type Attachment } from './attach.ts';
import { creationMillis, grpcRank, normalizeGrpcMatch, normalizeMatch, orderMatches, type RankedMatch } from './precedence.ts';
import { compileRule } from './rule.ts';
import type { RoutePolicies } from './rule-policy.ts';
import { serviceKey, type PortsOf, type RoutingService, type RoutingServicePort, type StoredRoute } from './stored-route.ts';

/** Locally a Service has one port (DESIGN.md), 80 unless the sidecar's --service-port says otherwise. */
export { DEFAULT_SERVICE_PORT };

interface CompiledRoute {
  route: StoredRoute;
  created: number | undefined;
  rules: RouteRuleSpec[];
}

/** Compiled routing of every routed Service. */
export interface ServiceRoutings {
  /** By "name.namespace", in key order: the routing of each Service's first port, which also takes calls on ports it does not list. */
  readonly routing: Map<string, RoutingSpec>;
  /** By "name.namespace", for Services with several ports: each port with routes, in the Service's port order. */
  readonly ports: Map<string, Map<number, RoutingSpec>>;
}

/** The routing of each Service's first port (see compileServiceRouting); what callers of one-port Services need. */
export function compileRouting(routes: readonly StoredRoute[], services: readonly RoutingService[], defaultPort = DEFAULT_SERVICE_PORT, warn: (message: string) => void = () => {}, policies?: RoutePolicies): Map<string, RoutingSpec> {
  return compileServiceRouting(routes, services, defaultPort, warn, policies).routing;
}

/**
 * Routing by parent Service and port. A parent need not be in `services`: routes may be applied
 * before the Service's pods start, and the sidecar must already answer by them. `services` gives
 * ports (a Service it does not list has one, `defaultPort`). A route attaches to every port of a
 * Service unless its parentRef names one (attach.ts); a Service with one port has one routing.
 * Problems that leave a route valid but partly unused (a parentRef that attaches nowhere, an
 * unresolvable mirror) go to `warn`; the control plane logs them.
 *
 * HTTPRoutes and GRPCRoutes on the same Service: GEP-1294 ("Route types") says that when routes of
 * different types bind to the same Service and port, only one type applies, GRPCRoute before
 * HTTPRoute, and the others are ignored (Accepted: False, reason Conflicted, which the Kubernetes
 * source writes: sources/route-conflicts.ts); the GRPCRoute spec adds that the two kinds are never
 * merged. So a Service port with any GRPCRoute attached is routed by its GRPCRoutes only, and each
 * HTTPRoute attached to it is left out for that port with a warning (it still applies elsewhere).
 */
export function compileServiceRouting(routes: readonly StoredRoute[], services: readonly RoutingService[], defaultPort = DEFAULT_SERVICE_PORT, warn: (message: string) => void = () => {}, policies?: RoutePolicies): ServiceRoutings {
  const known = new Map<string, readonly RoutingServicePort[]>();
  for (const s of services) known.set(serviceKey(s.name, s.namespace), s.ports?.length ? s.ports : [{ port: s.port ?? defaultPort }]);
  const fallback: readonly RoutingServicePort[] = [{ port: defaultPort }];
  const portsOf: PortsOf = (name, namespace) => known.get(serviceKey(name, namespace)) ?? fallback;
  /** The ports an attachment routes: undefined stands for "the Service's one port". */
  const slotsOf = (a: Attachment): (number | undefined)[] => {
    const ports = portsOf(a.name, a.namespace);
    if (ports.length === 1) return [undefined];
    return a.port === undefined ? ports.map((p) => p.port) : [a.port];
  };
  const slotKey = (key: string, port: number | undefined) => `${key}:${port ?? '*'}`;

  // Routes in tie-break order (oldest, then "namespace/name", then kind), so that `rules` lists them
  // the way a reader expects; the matches carry the real precedence.
  const compiled: CompiledRoute[] = [...routes]
    .map((route) => ({ route, created: creationMillis(route.creationTimestamp), rules: [] as RouteRuleSpec[] }))
    .sort((a, b) => (a.created === b.created ? 0 : a.created === undefined ? 1 : b.created === undefined ? -1 : a.created - b.created)
      || codepoint(a.route.key, b.route.key) || codepoint(a.route.kind, b.route.kind));

  const attached = compiled.map((c) => ({ c, parents: attachments(c.route, portsOf, warn) }));
  const grpcSlots = new Set<string>();
  for (const { c, parents } of attached) if (c.route.kind === 'GRPCRoute') for (const p of parents) for (const port of slotsOf(p)) grpcSlots.add(slotKey(p.key, port));

  const bySlot = new Map<string, { rules: RouteRuleSpec[]; ranked: RankedMatch[] }>();
  const routed = new Set<string>();
  for (const { c, parents } of attached) {
    if (parents.length === 0) continue;
    // Compiled once per route, shared by its parents (the rules do not depend on the parent).
    c.rules = (c.route.spec.rules ?? []).map((rule, i) => compileRule(c.route, rule, i, portsOf, warn, policies));
    const ranked = rankedOf(c, warn);
    for (const parent of parents) {
      for (const port of slotsOf(parent)) {
        const slot = slotKey(parent.key, port);
        if (c.route.kind === 'HTTPRoute' && grpcSlots.has(slot)) {
          warn(`HTTPRoute ${c.route.key}: not applied to Service ${parent.namespace}/${parent.name}${port === undefined ? '' : ` port ${port}`}, which has GRPCRoutes: a Service and port is routed by one route type, GRPCRoute first (GEP-1294, Conflicted)`);
          continue;
        }
        let entry = bySlot.get(slot);
        if (entry === undefined) bySlot.set(slot, (entry = { rules: [], ranked: [] }));
        routed.add(parent.key);
        const offset = entry.rules.length;
        entry.rules.push(...c.rules);
        for (const r of ranked) entry.ranked.push({ ...r, rule: offset + r.ruleIndex });
      }
    }
  }

  const specOf = (slot: string): RoutingSpec | undefined => {
    const entry = bySlot.get(slot);
    return entry && { matches: orderMatches(entry.ranked).map((r) => ({ match: r.match, rule: r.rule })), rules: entry.rules };
  };
  const out: ServiceRoutings = { routing: new Map(), ports: new Map() };
  for (const key of [...routed].sort()) {
    const dot = key.indexOf('.');
    const ports = portsOf(key.slice(0, dot), key.slice(dot + 1));
    if (ports.length === 1) {
      const spec = specOf(slotKey(key, undefined));
      if (spec !== undefined) out.routing.set(key, spec);
      continue;
    }
    const byPort = new Map<number, RoutingSpec>();
    for (const { port } of ports) {
      const spec = specOf(slotKey(key, port));
      if (spec !== undefined) byPort.set(port, spec);
    }
    const first = byPort.get(ports[0]!.port);
    if (first !== undefined) out.routing.set(key, first);
    if (byPort.size > 0) out.ports.set(key, byPort);
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
