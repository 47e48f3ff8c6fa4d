// Compiles policies and endpoints into the snapshot of one sidecar. Deterministic: the same inputs
// give the same JSON, so a content hash tells whether a sidecar needs a push. Precedence (DESIGN.md):
// rule > route > service policy > namespace default > built-in defaults; the control plane merges
// all but the built-in defaults (control/policy-index.ts) and lays each route rule's part over the
// service's in the rule itself; the sidecar fills in the built-in defaults.
import { snapshotContentHashOfJson } from '../api/snapshot-hash.ts';
import { SNAPSHOT_JSON_HEAD } from '../api/stream-messages.ts';
import type { AccessSpec, IdentitySpec, PolicySpec, RoutingSpec, ServiceSpec } from '../api/types.ts';
import { AccessIndex } from './access-index.ts';
import { PolicyIndex, type SourcedPolicy } from './policy-index.ts';
import type { ServiceRecord } from './registry.ts';
import { servicesNamedByRouting } from './routing/referenced.ts';
import { endpointSpec, servicePortsSpec } from './routing/service-ports.ts';
import { withoutShorthandRoutes } from './routing/shorthand.ts';

export { PolicyIndex };

export interface NodeIdentity {
  service: string;
  namespace: string;
}

/**
 * The part every sidecar shares, built once per push round: the services with their endpoints,
 * merged policies and routing, already serialized (1,000 sidecars must not serialize it 1,000 times).
 * Services that only routing names (a route's parent, a backend without endpoints yet) are listed with
 * no endpoints, so that the sidecar knows the name.
 */
export class CompiledRound {
  readonly policies: PolicyIndex;
  readonly access: AccessIndex;
  /** Compiled HTTPRoutes by "name.namespace" (control/routing/compile.ts). */
  readonly routing: ReadonlyMap<string, RoutingSpec>;
  readonly servicesJson: string;
  /** `,"identity":{...}` (the trust bundle), or '' when the control plane issues no certificates. */
  readonly identityJson: string;
  /** What this round had to leave out (ResiliencePolicy routes on a Service with HTTPRoutes), to log. */
  readonly warnings: string[] = [];

  constructor(services: readonly ServiceRecord[], policies: PolicyIndex, access: AccessIndex = new AccessIndex([]), identity?: IdentitySpec, routing: ReadonlyMap<string, RoutingSpec> = new Map(), portRouting: ReadonlyMap<string, ReadonlyMap<number, RoutingSpec>> = new Map()) {
    this.policies = policies;
    this.access = access;
    this.routing = routing;
    this.identityJson = identity === undefined ? '' : `,"identity":${JSON.stringify({ trustDomain: identity.trustDomain, roots: identity.roots })}`;
    const listed = new Map<string, ServiceRecord>();
    for (const s of services) listed.set(`${s.name}.${s.namespace}`, s);
    for (const named of [routing, ...[...portRouting].flatMap(([key, byPort]) => [...byPort.values()].map((spec) => new Map([[key, spec]])))]) {
      for (const [key, s] of servicesNamedByRouting(named)) if (!listed.has(key)) listed.set(key, { ...s, endpoints: [] });
    }
    // The registry's order (namespace, then name), whatever routing added.
    const all = [...listed.values()].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    const specs: ServiceSpec[] = all.map((s) => {
      const sourced = this.sourcedPolicyFor(s.name, s.namespace, this.warnings);
      const policy = sourced?.policy;
      const routes = routing.get(`${s.name}.${s.namespace}`);
      const ports = servicePortsSpec(s, portRouting.get(`${s.name}.${s.namespace}`));
      return {
        name: s.name,
        namespace: s.namespace,
        ...(s.clusterIps?.length ? { hosts: s.clusterIps } : {}),
        endpoints: s.endpoints.map(endpointSpec),
        ...(policy ? { policy, policySources: sourced!.sources } : {}),
        ...(routes ? { routing: routes } : {}),
        ...(ports ? { ports } : {}),
      };
    });
    this.servicesJson = JSON.stringify(specs);
  }

  /** The service's merged policy, without ResiliencePolicy `routes:` when HTTPRoutes route it (routing/shorthand.ts). */
  policyFor(service: string, namespace: string, warnings?: string[]): PolicySpec | undefined {
    return this.sourcedPolicyFor(service, namespace, warnings)?.policy;
  }

  /** policyFor with the source of each field (`policySources` in the snapshot). */
  sourcedPolicyFor(service: string, namespace: string, warnings?: string[]): SourcedPolicy | undefined {
    const sourced = this.policies.sourcedPolicyFor(service, namespace);
    const r = withoutShorthandRoutes(service, namespace, sourced?.policy, this.routing.has(`${service}.${namespace}`));
    if (r.warning !== undefined) warnings?.push(r.warning);
    if (r.policy === undefined) return undefined;
    if (r.policy === sourced!.policy) return sourced;
    const { routes: _dropped, ...sources } = sourced!.sources;
    return { policy: r.policy, sources };
  }
}

/**
 * What a sidecar applies to calls it receives: its own service's timeouts and routes (names,
 * matches, timeouts only), for callers outside the mesh (callers inside it send their deadline),
 * and the AccessPolicies that protect its service.
 */
function inboundPolicyJson(own: PolicySpec | undefined, access: AccessSpec | undefined): string {
  const routes = own?.routes?.filter((r) => r.timeout !== undefined).map((r) => ({ name: r.name, match: r.match, timeout: r.timeout }));
  const hasPolicy = own?.timeout !== undefined || (routes !== undefined && routes.length > 0);
  if (!hasPolicy && access === undefined) return '';
  const policy: PolicySpec | undefined = hasPolicy ? { ...(own?.timeout ? { timeout: own.timeout } : {}), ...(routes?.length ? { routes } : {}) } : undefined;
  return `,"inbound":${JSON.stringify({ ...(policy ? { policy } : {}), ...(access ? { access } : {}) })}`;
}

/** One sidecar's snapshot without its version, as JSON, and its content hash. */
export function compileFor(node: NodeIdentity, round: CompiledRound): { json: string; hash: string } {
  const own = round.policyFor(node.service, node.namespace);
  const inbound = inboundPolicyJson(own, round.access.accessFor(node.service, node.namespace));
  // The same key order as JSON.stringify of the parsed snapshot minus its version (api/snapshot-hash.ts).
  const json = `${SNAPSHOT_JSON_HEAD}"node":${JSON.stringify({ service: node.service, namespace: node.namespace })}${round.identityJson}${inbound},"services":${round.servicesJson}}`;
  return { json, hash: snapshotContentHashOfJson(json) };
}
