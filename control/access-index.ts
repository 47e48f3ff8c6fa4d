// AccessPolicies merged per protected service, for the snapshot of that service's own sidecars
// (`inbound.access`). Every policy that applies counts: the namespace defaults (no targetRef) and
// the ones naming the service. Their rules are unioned (a call passes when any rule allows it); a
// policy without rules adds none, so a namespace-wide `mtls: strict` does not open a service that
// another policy restricts. `mtls` is strict when any applicable policy says so. A service that no
// AccessPolicy applies to gets no `access` at all. Deterministic: policies in key order, namespace
// defaults first.
//
// An AccessPolicy that targets a route or route rule does not widen or replace any of that: it adds a
// scope (routing/access-scope.ts) to each service the rule sends to, which that service's sidecars
// check on top of the rules above.
import { isRouteTarget } from '../api/target-ref-schema.ts';
import type { AccessSpec, ScopedAccessSpec } from '../api/types.ts';
import type { StoredAccessPolicy, StoredPolicy } from './policy.ts';
import { policySource } from './policy-index.ts';
import { qualify, routeAccessScopes } from './routing/access-scope.ts';
import { routesOf } from './routing/stored-route.ts';

export class AccessIndex {
  /** namespace -> its namespace-default AccessPolicies */
  readonly #defaults = new Map<string, StoredAccessPolicy[]>();
  /** "service.namespace" -> the AccessPolicies that name it */
  readonly #targets = new Map<string, StoredAccessPolicy[]>();
  /** "service.namespace" -> scopes from AccessPolicies that target the routes sending to it */
  readonly #scoped = new Map<string, ScopedAccessSpec[]>();
  /** Merged per service, once per round (every sidecar of a service asks for the same). */
  readonly #merged = new Map<string, AccessSpec | undefined>();
  /** Route-targeted policies that guard nothing, or less precisely than written, to log. */
  readonly warnings: string[] = [];

  constructor(policies: readonly StoredPolicy[]) {
    const routes = routesOf(policies);
    for (const p of [...policies].sort((a, b) => a.key.localeCompare(b.key))) {
      if (p.kind !== 'AccessPolicy') continue;
      if (isRouteTarget(p.spec.targetRef)) {
        for (const { service, scope } of routeAccessScopes(p, routes, (w) => this.warnings.push(w))) {
          let list = this.#scoped.get(service);
          if (list === undefined) this.#scoped.set(service, (list = []));
          list.push(scope);
        }
        continue;
      }
      const target = p.spec.targetRef?.name;
      const map = target === undefined ? this.#defaults : this.#targets;
      const key = target === undefined ? p.namespace : `${target}.${p.namespace}`;
      let list = map.get(key);
      if (list === undefined) map.set(key, (list = []));
      list.push(p);
    }
  }

  accessFor(service: string, namespace: string): AccessSpec | undefined {
    const key = `${service}.${namespace}`;
    if (this.#merged.has(key)) return this.#merged.get(key);
    const applicable = [...(this.#defaults.get(namespace) ?? []), ...(this.#targets.get(key) ?? [])];
    const scoped = this.#scoped.get(key);
    let merged: AccessSpec | undefined;
    if (applicable.length > 0 || scoped !== undefined) {
      const strict = applicable.some((p) => p.spec.mtls === 'strict');
      const withRules = applicable.filter((p) => p.spec.rules !== undefined);
      merged = { mtls: strict ? 'strict' : 'permissive' };
      if (withRules.length > 0) merged.rules = withRules.flatMap((p) => (p.spec.rules ?? []).map((r) => qualify(r, p.namespace)));
      if (scoped !== undefined) merged.scoped = scoped;
    }
    this.#merged.set(key, merged);
    return merged;
  }

  /** Where accessFor's answer came from (`petrel describe`): each policy that applies, and each route scope. */
  sourcesFor(service: string, namespace: string): string[] {
    const key = `${service}.${namespace}`;
    return [
      ...(this.#defaults.get(namespace) ?? []).map((p) => `${policySource(p)} (namespace default)`),
      ...(this.#targets.get(key) ?? []).map((p) => policySource(p)),
      ...(this.#scoped.get(key) ?? []).map((s) => s.source),
    ];
  }
}
