// ResiliencePolicies by what they target, merged in precedence order with the source of every value:
//   built-in < namespace default < Service < route (targetRef HTTPRoute) < the rule's own fields
//   (HTTPRoute timeouts and retry) < rule (targetRef HTTPRoute + sectionName).
// The sidecar fills in the built-in defaults; the control plane merges everything else, field by
// field, and writes down which policy each field came from (`policySources`, a rule's `sources`) so
// that /config_dump can say why a value is what it is. Deterministic: policies in key order, and when
// two policies target the same thing the first key wins (the other is reported, never merged).
import type { PolicySpec, ResiliencePolicySpec } from '../api/types.ts';
import { policyLeaves } from '../api/policy-paths.ts';
import { isRouteTarget } from '../api/target-ref-schema.ts';
import type { StoredPolicy, StoredResiliencePolicy } from './policy.ts';

/** One level of the precedence: a policy body and where it came from. */
export interface PolicyLayer {
  source: string;
  policy: PolicySpec;
}

/** A merged policy and, by field path ("retry.backoff.base"), the layer each value came from. */
export interface SourcedPolicy {
  policy: PolicySpec;
  sources: Record<string, string>;
}

const merge = <T extends object>(under: T | undefined, over: T | undefined): T | undefined =>
  under === undefined ? over : over === undefined ? under : { ...under, ...over };

/** Field by field: `over`'s fields win over `under`'s; rateLimit, fault and routes are replaced whole. */
export function mergePolicy(under: PolicySpec | undefined, over: PolicySpec | undefined): PolicySpec | undefined {
  if (under === undefined && over === undefined) return undefined;
  const d = under ?? {};
  const s = over ?? {};
  const retry = merge(d.retry, s.retry);
  const out: PolicySpec = {
    timeout: merge(d.timeout, s.timeout),
    retry: retry && { ...retry, backoff: merge(d.retry?.backoff, s.retry?.backoff), budget: merge(d.retry?.budget, s.retry?.budget) },
    circuitBreaker: merge(d.circuitBreaker, s.circuitBreaker),
    rateLimit: s.rateLimit ?? d.rateLimit,
    concurrency: merge(d.concurrency, s.concurrency),
    loadBalancer: merge(d.loadBalancer, s.loadBalancer),
    fault: s.fault ?? d.fault,
    routes: s.routes ?? d.routes,
  };
  return JSON.parse(JSON.stringify(out)) as PolicySpec; // drops the undefined fields
}

/** Layers from the lowest precedence to the highest, merged; undefined when no layer sets anything. */
export function layerPolicies(layers: readonly PolicyLayer[]): SourcedPolicy | undefined {
  let policy: PolicySpec | undefined;
  const sources: Record<string, string> = {};
  for (const layer of layers) {
    policy = mergePolicy(policy, layer.policy);
    for (const [path] of policyLeaves(layer.policy)) sources[path] = layer.source;
  }
  if (policy === undefined || Object.keys(policy).length === 0) return undefined;
  // Key order fixed (the snapshot is hashed): sorted paths.
  return { policy, sources: Object.fromEntries(Object.keys(sources).sort().map((k) => [k, sources[k] as string])) };
}

/** "ResiliencePolicy shop/payments in policies/payments.yaml (document 1)"; Kubernetes objects by name only. */
export function policySource(p: { kind: string; key: string; origin: string }): string {
  return p.origin === 'kubernetes' ? `${p.kind} ${p.key}` : `${p.kind} ${p.key} in ${p.origin}`;
}

function body(spec: ResiliencePolicySpec): PolicySpec {
  const { targetRef: _target, ...policy } = spec;
  return policy;
}

const routeTargetKey = (kind: string, namespace: string, name: string): string => `${kind} ${namespace}/${name}`;

/** Policies by namespace and target: the namespace default, one per Service, per route and per rule. */
export class PolicyIndex {
  readonly #defaults = new Map<string, PolicyLayer>();
  readonly #services = new Map<string, PolicyLayer>();
  /** "HTTPRoute ns/name" -> the policy on the whole route */
  readonly #routes = new Map<string, PolicyLayer>();
  /** "HTTPRoute ns/name" + "#" + sectionName -> the policy on one rule */
  readonly #rules = new Map<string, PolicyLayer>();
  /** Policies left out because an earlier one (by key) targets the same thing. */
  readonly warnings: string[] = [];

  constructor(policies: readonly StoredPolicy[]) {
    const resilience = policies.filter((p): p is StoredResiliencePolicy => p.kind === 'ResiliencePolicy');
    for (const p of resilience.sort((a, b) => a.key.localeCompare(b.key))) {
      const ref = p.spec.targetRef;
      const layer = { source: policySource(p), policy: body(p.spec) };
      let map: Map<string, PolicyLayer>;
      let key: string;
      if (ref === undefined) [map, key] = [this.#defaults, p.namespace];
      else if (!isRouteTarget(ref)) [map, key] = [this.#services, `${ref.name}.${p.namespace}`];
      else if (ref.sectionName === undefined) [map, key] = [this.#routes, routeTargetKey(ref.kind, p.namespace, ref.name)];
      else [map, key] = [this.#rules, `${routeTargetKey(ref.kind, p.namespace, ref.name)}#${ref.sectionName}`];
      const first = map.get(key);
      if (first === undefined) map.set(key, layer);
      else this.warnings.push(`${layer.source}: left out: ${first.source} targets the same ${ref === undefined ? 'namespace' : ref.sectionName === undefined ? `${ref.kind} ${ref.name}` : `${ref.kind} ${ref.name} rule ${ref.sectionName}`} (the first by namespace/name wins)`);
    }
  }

  /** The service's policy: its namespace default under its own, with sources. */
  sourcedPolicyFor(service: string, namespace: string): SourcedPolicy | undefined {
    const layers: PolicyLayer[] = [];
    const d = this.#defaults.get(namespace);
    if (d !== undefined) layers.push({ source: `${d.source} (namespace default)`, policy: d.policy });
    const s = this.#services.get(`${service}.${namespace}`);
    if (s !== undefined) layers.push(s);
    return layerPolicies(layers);
  }

  policyFor(service: string, namespace: string): PolicySpec | undefined {
    return this.sourcedPolicyFor(service, namespace)?.policy;
  }

  /** The policy on a whole route, or undefined. */
  routePolicy(kind: string, namespace: string, name: string): PolicyLayer | undefined {
    return this.#routes.get(routeTargetKey(kind, namespace, name));
  }

  /** The policy on one named rule, or undefined. */
  rulePolicy(kind: string, namespace: string, name: string, ruleName: string): PolicyLayer | undefined {
    return this.#rules.get(`${routeTargetKey(kind, namespace, name)}#${ruleName}`);
  }

  /**
   * Policies whose route or rule does not exist (yet): accepted, applying to nothing, and worth a
   * warning, since a typo in a sectionName would otherwise silently leave a rule without its policy.
   */
  targetsNamingNothing(routes: readonly { kind: string; namespace: string; name: string; spec: { rules?: readonly { name?: string }[] } }[]): string[] {
    const rules = new Set<string>();
    const known = new Set<string>();
    for (const r of routes) {
      const key = routeTargetKey(r.kind, r.namespace, r.name);
      known.add(key);
      for (const rule of r.spec.rules ?? []) if (rule.name !== undefined) rules.add(`${key}#${rule.name}`);
    }
    const out: string[] = [];
    for (const [key, layer] of this.#routes) if (!known.has(key)) out.push(`${layer.source}: targets ${key}, which does not exist; it applies to nothing until it does`);
    for (const [key, layer] of this.#rules) {
      if (rules.has(key)) continue;
      const [route, rule] = key.split('#') as [string, string];
      out.push(known.has(route)
        ? `${layer.source}: ${route} has no rule named "${rule}" (sectionName names a rule's name); it applies to nothing`
        : `${layer.source}: targets ${route}, which does not exist; it applies to nothing until it does`);
    }
    return out;
  }
}
