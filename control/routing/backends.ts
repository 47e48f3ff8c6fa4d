// A rule's backendRefs resolved to mesh services. The Gateway API defaults a backendRef to group ""
// and kind Service (unlike a parentRef). An invalid backendRef gets the calls its weight would have
// had answered 500 (HTTPRouteRule.backendRefs: "the proportion of requests that would otherwise have
// been routed to an invalid backend MUST receive a 500"): the rule keeps its valid backends and
// carries the invalid ones' weight apart. When no valid backend would get anything, the whole rule is
// `unresolved`. A Service the control plane does not know (no endpoints yet) still resolves: its name
// is valid, and the sidecar answers 503 UH until it has endpoints.
import type { HttpRouteBackendRef, RouteBackendSpec } from '../../api/types.ts';
import type { PortsOf } from './stored-route.ts';

export const CROSS_NAMESPACE_REFUSAL = 'cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet';

export type BackendResolution = { ok: true; backend: RouteBackendSpec } | { ok: false; why: string };

/**
 * One backendRef (a rule's, or a RequestMirror's) of a route in `namespace`. Its `port` must be one
 * of the Service's; on a Service with several it is kept, so that the sidecar calls that port's
 * endpoints (without it, the first port's).
 */
export function resolveBackendRef(ref: HttpRouteBackendRef, namespace: string, portsOf: PortsOf): BackendResolution {
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if (group !== '' || kind !== 'Service') return { ok: false, why: `backendRef ${ref.name}: ${group === '' ? '' : `${group}/`}${kind} is not supported (only Services)` };
  const ns = ref.namespace ?? namespace;
  if (ns !== namespace) return { ok: false, why: `backendRef ${ns}/${ref.name}: ${CROSS_NAMESPACE_REFUSAL}` };
  const ports = portsOf(ref.name, ns);
  if (ref.port !== undefined && !ports.some((p) => p.port === ref.port)) return { ok: false, why: `backendRef ${ref.name}: port ${ref.port} is not a port of the Service (${ports.map((p) => p.port).join(', ')})` };
  const port = ports.length > 1 && ref.port !== undefined ? { port: ref.port } : {};
  return { ok: true, backend: { service: ref.name, namespace: ns, ...port, weight: ref.weight ?? 1 } };
}

/**
 * All of a rule's backends, or why the rule cannot be resolved. Weights of 0 stay listed: the sidecar
 * sends nothing there, and answers 500 when every weight is 0. No backendRefs at all gives no backends
 * and no `unresolved`: the rule compiler decides (a redirect needs none).
 */
export function resolveBackends(refs: readonly HttpRouteBackendRef[] | undefined, namespace: string, portsOf: PortsOf): { backends: RouteBackendSpec[]; unresolved?: string; invalid?: { weight: number; why: string } } {
  const backends: RouteBackendSpec[] = [];
  const problems: string[] = [];
  let invalidWeight = 0;
  for (const ref of refs ?? []) {
    const r = resolveBackendRef(ref, namespace, portsOf);
    if (r.ok) backends.push(r.backend);
    else {
      problems.push(r.why);
      invalidWeight += ref.weight ?? 1;
    }
  }
  if (problems.length === 0) return { backends };
  const why = problems.join('; ');
  if (!backends.some((b) => b.weight > 0)) return { backends: [], unresolved: why };
  return invalidWeight > 0 ? { backends, invalid: { weight: invalidWeight, why } } : { backends };
}
