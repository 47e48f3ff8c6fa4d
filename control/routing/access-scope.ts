// An AccessPolicy that targets an HTTPRoute or GRPCRoute (or one rule of it, by sectionName) is
// enforced where it can be trusted: by the sidecars of the rule's backends, on the calls they receive,
// never by the caller's sidecar. So the rule is turned into what a callee can see of it: its matches as
// the request arrives (after the rule's URLRewrite), and the services it sends to (its backendRefs and
// mirrors). Where the callee cannot see what the caller matched on (a header the rule's own
// RequestHeaderModifier changes), that condition is dropped: the scope only widens, so the policy
// guards more calls, never fewer, and a warning says so.
import type { AccessRuleSpec, GrpcRouteMatch, GrpcRouteRule, HttpRouteBackendRef, HttpRouteFilter, HttpRouteMatch, HttpRouteRule, RouteMatchSpec, ScopedAccessSpec } from '../../api/types.ts';
import { policySource } from '../policy-index.ts';
import type { StoredAccessPolicy } from '../policy.ts';
import { resolveBackendRef } from './backends.ts';
import { normalizeGrpcMatch, normalizeMatch } from './precedence.ts';
import { ruleName } from './rule.ts';
import { serviceKey, type StoredRoute } from './stored-route.ts';

/** One scope and the service ("name.namespace") whose sidecars enforce it. */
export interface ServiceScope {
  service: string;
  scope: ScopedAccessSpec;
}

/** Services a rule sends calls to: its Service backendRefs and mirrors in the route's namespace. */
function receivers(rule: HttpRouteRule | GrpcRouteRule, namespace: string): string[] {
  const refs: HttpRouteBackendRef[] = [...(rule.backendRefs ?? [])];
  for (const f of (rule.filters ?? []) as HttpRouteFilter[]) if (f.type === 'RequestMirror' && f.requestMirror) refs.push(f.requestMirror.backendRef);
  const out = new Set<string>();
  for (const ref of refs) {
    // Which refs name a mesh Service is resolveBackendRef's to say; the port does not matter here (a
    // scope guards the Service on every port), so the ref's own port is taken as the Service's.
    const resolved = resolveBackendRef(ref, namespace, () => (ref.port === undefined ? [] : [{ port: ref.port }]));
    if (resolved.ok) out.add(serviceKey(resolved.backend.service, resolved.backend.namespace));
  }
  return [...out].sort();
}

/** A match as the callee sees the request: path rewritten, modified headers no longer conditions. */
function asReceived(match: RouteMatchSpec, filters: readonly HttpRouteFilter[], widened: (why: string) => void): RouteMatchSpec {
  let out = match;
  const rewrite = filters.find((f) => f.type === 'URLRewrite')?.urlRewrite?.path;
  if (rewrite?.type === 'ReplaceFullPath' && rewrite.replaceFullPath !== undefined) out = { ...out, path: { type: 'Exact', value: rewrite.replaceFullPath } };
  else if (rewrite?.type === 'ReplacePrefixMatch' && rewrite.replacePrefixMatch !== undefined) out = { ...out, path: { type: 'PathPrefix', value: rewrite.replacePrefixMatch } };
  const modifier = filters.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier;
  if (modifier !== undefined && out.headers !== undefined) {
    const touched = new Set([...(modifier.set ?? []).map((h) => h.name), ...(modifier.add ?? []).map((h) => h.name), ...(modifier.remove ?? [])].map((n) => n.toLowerCase()));
    const kept = out.headers.filter((h) => !touched.has(h.name.toLowerCase()));
    if (kept.length !== out.headers.length) {
      widened(`the rule's RequestHeaderModifier changes ${out.headers.filter((h) => touched.has(h.name.toLowerCase())).map((h) => h.name).join(', ')}, which the callee cannot match on: the policy guards those calls whatever the header was`);
      const { headers: _all, ...rest } = out;
      out = kept.length ? { ...rest, headers: kept } : rest;
    }
  }
  return out;
}

/** A bare service account name means the policy's own namespace; written out so the snapshot says so. */
export const qualify = (rule: AccessRuleSpec, namespace: string): AccessRuleSpec => {
  const accounts = rule.from?.serviceAccounts;
  if (accounts === undefined) return rule;
  return { ...rule, from: { ...rule.from, serviceAccounts: accounts.map((a) => (a.includes('/') ? a : `${namespace}/${a}`)) } };
};

/** The scopes one route-targeted AccessPolicy puts on services; problems go to `warn`. */
export function routeAccessScopes(policy: StoredAccessPolicy, routes: readonly StoredRoute[], warn: (message: string) => void): ServiceScope[] {
  const ref = policy.spec.targetRef!;
  const source = policySource(policy);
  const route = routes.find((r) => r.kind === ref.kind && r.namespace === policy.namespace && r.name === ref.name);
  if (route === undefined) {
    warn(`${source}: targets ${ref.kind} ${policy.namespace}/${ref.name}, which does not exist; it guards nothing until it does`);
    return [];
  }
  const rules = (route.spec.rules ?? []) as (HttpRouteRule | GrpcRouteRule)[];
  const chosen = rules.map((rule, index) => ({ rule, index })).filter(({ rule }) => ref.sectionName === undefined || rule.name === ref.sectionName);
  if (chosen.length === 0) {
    warn(`${source}: ${route.kind} ${route.key} has no rule named "${ref.sectionName}" (sectionName names a rule's name); it guards nothing`);
    return [];
  }
  const out: ServiceScope[] = [];
  const accessRules = (policy.spec.rules ?? []).map((r) => qualify(r, policy.namespace));
  for (const { rule, index } of chosen) {
    const label = `${route.kind} ${route.key} rule ${ruleName(route, rule, index)}`;
    const filters = (rule.filters ?? []) as HttpRouteFilter[];
    const widened = (why: string) => warn(`${source} -> ${label}: ${why}`);
    const matches: RouteMatchSpec[] = [];
    for (const m of rule.matches?.length ? rule.matches : [undefined]) {
      const normalized = route.kind === 'HTTPRoute' ? normalizeMatch(m as HttpRouteMatch | undefined) : normalizeGrpcMatch(m as GrpcRouteMatch | undefined);
      if (normalized !== undefined) matches.push(asReceived(normalized, filters, widened));
    }
    const services = receivers(rule, route.namespace);
    if (services.length === 0) {
      warn(`${source} -> ${label}: the rule sends no call to a mesh Service (a redirect, or no valid backendRef): nothing to guard`);
      continue;
    }
    for (const service of services) out.push({ service, scope: { source: `${source} -> ${label}`, matches, rules: accessRules } });
  }
  return out;
}
