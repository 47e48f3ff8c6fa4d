// Which Services an HTTPRoute or GRPCRoute attaches to (GAMMA, GEP-1324): the parentRefs that name a Service.
// In the Gateway API a parentRef's group defaults to gateway.networking.k8s.io and its kind to
// Gateway, so only an explicit group "" and kind Service names a Service; Petrel has no Gateway, and
// the validation refuses other parents, so anything else simply attaches nowhere here.
import type { HttpRouteParentRef } from '../../api/types.ts';
import { serviceKey, type StoredRoute } from './stored-route.ts';

export interface Attachment {
  /** "name.namespace" of the parent Service. */
  key: string;
  name: string;
  namespace: string;
}

/**
 * The parent Services of a route, deduplicated, in parentRef order. `portOf` gives a Service's port:
 * a parentRef naming another port does not attach (spec: the route then applies to that port only,
 * which locally does not exist). A parentRef in another namespace is a GAMMA "consumer route", which
 * applies only to callers in the route's namespace; this slice does not implement it, so it does not
 * attach (and is reported through `skipped`). A sectionName names a Service port by name; local
 * Services have unnamed ports, so it does not attach either.
 */
export function attachments(route: StoredRoute, portOf: (name: string, namespace: string) => number, skipped?: (why: string) => void): Attachment[] {
  const out: Attachment[] = [];
  const seen = new Set<string>();
  (route.spec.parentRefs ?? []).forEach((ref: HttpRouteParentRef, i) => {
    const at = `${route.kind} ${route.key}: spec.parentRefs[${i}]`;
    if (ref.group !== '' || ref.kind !== 'Service') return skipped?.(`${at}: not a Service (group "" kind Service); not attached`);
    const namespace = ref.namespace ?? route.namespace;
    if (namespace !== route.namespace) return skipped?.(`${at}: a Service in another namespace (consumer routes are not implemented); not attached`);
    if (ref.sectionName !== undefined) return skipped?.(`${at}: sectionName "${ref.sectionName}" names no port of ${ref.name}; not attached`);
    const port = portOf(ref.name, namespace);
    if (ref.port !== undefined && ref.port !== port) return skipped?.(`${at}: port ${ref.port} is not a port of ${ref.name} (${port}); not attached`);
    const key = serviceKey(ref.name, namespace);
    if (seen.has(key)) return;
    seen.add(key);
    out.push({ key, name: ref.name, namespace });
  });
  return out;
}
