// Every Service's routing: the HTTPRoutes whose parentRefs name it, compiled into the RoutingSpec a
// sidecar applies to calls to that Service (api/types.ts). Pure and deterministic: the same routes
// and services give the same specs, in the same key order, whatever order they came in.
import type { RouteRuleSpec, RoutingSpec } from '../../api/types.ts';
import { attachments } from './attach.ts';
import { creationMillis, normalizeMatch, orderMatches, type RankedMatch } from './precedence.ts';
import { compileRule } from './rule.ts';
import { serviceKey, type RoutingService, type StoredHttpRoute } from './stored-route.ts';

/** Locally a Service has one port (DESIGN.md), 80 unless the sidecar's --service-port says otherwise. */
export const DEFAULT_SERVICE_PORT = 80;

interface CompiledRoute {
  route: StoredHttpRoute;
  created: number | undefined;
  rules: RouteRuleSpec[];
}

/**
 * Routing by parent Service, keyed "name.namespace", in key order. A parent need not be in
 * `services`: routes may be applied before the Service's pods start, and the sidecar must already
 * answer by them. `services` only gives ports (a Service without one has `defaultPort`). Problems that
 * leave a route valid but partly unused (a parentRef that attaches nowhere, an unresolvable mirror)
 * go to `warn`; the control plane logs them.
 */
export function compileRouting(routes: readonly StoredHttpRoute[], services: readonly RoutingService[], defaultPort = DEFAULT_SERVICE_PORT, warn: (message: string) => void = () => {}): Map<string, RoutingSpec> {
  const ports = new Map<string, number>();
  for (const s of services) if (s.port !== undefined) ports.set(serviceKey(s.name, s.namespace), s.port);
  const portOf = (name: string, namespace: string) => ports.get(serviceKey(name, namespace)) ?? defaultPort;

  // Routes in tie-break order (oldest, then "namespace/name"), so that `rules` lists them the way a
  // reader expects; the matches carry the real precedence.
  const compiled: CompiledRoute[] = [...routes]
    .map((route) => ({ route, created: creationMillis(route.creationTimestamp), rules: [] as RouteRuleSpec[] }))
    .sort((a, b) => (a.created === b.created ? 0 : a.created === undefined ? 1 : b.created === undefined ? -1 : a.created - b.created) || (a.route.key < b.route.key ? -1 : a.route.key > b.route.key ? 1 : 0));

  const byParent = new Map<string, { rules: RouteRuleSpec[]; ranked: RankedMatch[] }>();
  for (const c of compiled) {
    const parents = attachments(c.route, portOf, warn);
    if (parents.length === 0) continue;
    // Compiled once per route, shared by its parents (the rules do not depend on the parent).
    c.rules = (c.route.spec.rules ?? []).map((rule, i) => compileRule(c.route, rule, i, portOf, warn));
    for (const parent of parents) {
      let entry = byParent.get(parent.key);
      if (entry === undefined) byParent.set(parent.key, (entry = { rules: [], ranked: [] }));
      const offset = entry.rules.length;
      entry.rules.push(...c.rules);
      (c.route.spec.rules ?? []).forEach((rule, ruleIndex) => {
        // No matches: the implicit PathPrefix "/" (spec default), which takes every request.
        const matches = rule.matches?.length ? rule.matches : [undefined];
        matches.forEach((m, matchIndex) => {
          entry.ranked.push({ match: normalizeMatch(m), rule: offset + ruleIndex, routeKey: c.route.key, created: c.created, ruleIndex, matchIndex });
        });
      });
    }
  }

  const out = new Map<string, RoutingSpec>();
  for (const key of [...byParent.keys()].sort()) {
    const entry = byParent.get(key)!;
    out.set(key, { matches: orderMatches(entry.ranked).map((r) => ({ match: r.match, rule: r.rule })), rules: entry.rules });
  }
  return out;
}
