// Compiles policies and endpoints into the snapshot of one sidecar. Deterministic: the same inputs
// give the same JSON, so a content hash tells whether a sidecar needs a push. Precedence (DESIGN.md):
// route > service policy > namespace default > built-in defaults; the sidecar applies routes and
// built-in defaults, the control plane merges the namespace default under the service policy.
import { snapshotContentHash } from '../api/snapshot-hash.ts';
import type { PolicySpec, ResiliencePolicySpec, ServiceSpec, Snapshot } from '../api/types.ts';
import type { StoredPolicy } from './policy.ts';
import type { ServiceRecord } from './registry.ts';

export interface NodeIdentity {
  service: string;
  namespace: string;
}

export type SnapshotContent = Omit<Snapshot, 'version'>;

const merge = <T extends object>(under: T | undefined, over: T | undefined): T | undefined =>
  under === undefined ? over : over === undefined ? under : { ...under, ...over };

/** Field by field: the service policy's fields win over the namespace default's. */
export function mergePolicy(namespaceDefault: PolicySpec | undefined, service: PolicySpec | undefined): PolicySpec | undefined {
  if (namespaceDefault === undefined && service === undefined) return undefined;
  const d = namespaceDefault ?? {};
  const s = service ?? {};
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

function withoutTarget(spec: ResiliencePolicySpec): PolicySpec {
  const { targetRef: _ignored, ...policy } = spec;
  return policy;
}

/** Policies by namespace: the namespace default and one policy per target (the first name wins). */
export class PolicyIndex {
  readonly #defaults = new Map<string, PolicySpec>();
  readonly #targets = new Map<string, PolicySpec>();

  constructor(policies: readonly StoredPolicy[]) {
    for (const p of [...policies].sort((a, b) => a.key.localeCompare(b.key))) {
      const target = p.spec.targetRef?.name;
      if (target === undefined) {
        if (!this.#defaults.has(p.namespace)) this.#defaults.set(p.namespace, withoutTarget(p.spec));
      } else {
        const key = `${target}.${p.namespace}`;
        if (!this.#targets.has(key)) this.#targets.set(key, withoutTarget(p.spec));
      }
    }
  }

  policyFor(service: string, namespace: string): PolicySpec | undefined {
    return mergePolicy(this.#defaults.get(namespace), this.#targets.get(`${service}.${namespace}`));
  }
}

export function compileFor(node: NodeIdentity, services: readonly ServiceRecord[], policies: PolicyIndex): SnapshotContent {
  const specs: ServiceSpec[] = services.map((s) => {
    const policy = policies.policyFor(s.name, s.namespace);
    return { name: s.name, namespace: s.namespace, endpoints: s.endpoints.map((e) => ({ address: e.address, name: e.name })), ...(policy ? { policy } : {}) };
  });
  const own = policies.policyFor(node.service, node.namespace);
  return {
    apiVersion: 'petrel.dev/v1alpha1',
    kind: 'SidecarSnapshot',
    node: { service: node.service, namespace: node.namespace },
    ...(own?.timeout ? { inbound: { policy: { timeout: own.timeout } } } : {}),
    services: specs,
  };
}

/** sha256 of the canonical JSON of a snapshot without its version (api/snapshot-hash.ts). */
export function contentHash(content: SnapshotContent): string {
  return snapshotContentHash(content);
}
