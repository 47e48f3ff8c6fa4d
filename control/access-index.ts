// AccessPolicies merged per protected service, for the snapshot of that service's own sidecars
// (`inbound.access`). Every policy that applies counts: the namespace defaults (no targetRef) and
// the ones naming the service. Their rules are unioned (a call passes when any rule allows it); a
// policy without rules adds none, so a namespace-wide `mtls: strict` does not open a service that
// another policy restricts. `mtls` is strict when any applicable policy says so. A service that no
// AccessPolicy applies to gets no `access` at all. Deterministic: policies in key order, namespace
// defaults first.
import type { AccessRuleSpec, AccessSpec } from '../api/types.ts';
import type { StoredAccessPolicy, StoredPolicy } from './policy.ts';

/** A bare service account name means the policy's own namespace; written out so the snapshot says so. */
function qualify(rule: AccessRuleSpec, namespace: string): AccessRuleSpec {
  const accounts = rule.from?.serviceAccounts;
  if (accounts === undefined) return rule;
  return { ...rule, from: { ...rule.from, serviceAccounts: accounts.map((a) => (a.includes('/') ? a : `${namespace}/${a}`)) } };
}

export class AccessIndex {
  /** namespace -> its namespace-default AccessPolicies */
  readonly #defaults = new Map<string, StoredAccessPolicy[]>();
  /** "service.namespace" -> the AccessPolicies that name it */
  readonly #targets = new Map<string, StoredAccessPolicy[]>();
  /** Merged per service, once per round (every sidecar of a service asks for the same). */
  readonly #merged = new Map<string, AccessSpec | undefined>();

  constructor(policies: readonly StoredPolicy[]) {
    for (const p of [...policies].sort((a, b) => a.key.localeCompare(b.key))) {
      if (p.kind !== 'AccessPolicy') continue;
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
    let merged: AccessSpec | undefined;
    if (applicable.length > 0) {
      const strict = applicable.some((p) => p.spec.mtls === 'strict');
      const withRules = applicable.filter((p) => p.spec.rules !== undefined);
      merged = { mtls: strict ? 'strict' : 'permissive' };
      if (withRules.length > 0) merged.rules = withRules.flatMap((p) => (p.spec.rules ?? []).map((r) => qualify(r, p.namespace)));
    }
    this.#merged.set(key, merged);
    return merged;
  }
}
