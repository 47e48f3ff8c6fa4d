// Which Services, and which of their ports, an HTTPRoute or GRPCRoute attaches to (GAMMA, GEP-1324):
// the parentRefs that name a Service. In the Gateway API a parentRef's group defaults to
// gateway.networking.k8s.io and its kind to Gateway, so only an explicit group "" and kind Service
// names a Service; Petrel has no Gateway, and the validation refuses other parents, so anything else
// simply attaches nowhere here.
import type { HttpRouteParentRef } from '../../api/types.ts';
import { serviceKey, type PortsOf, type StoredRoute } from './stored-route.ts';

export interface Attachment {
  /** "name.namespace" of the parent Service. */
  key: string;
  name: string;
  namespace: string;
  /** The one Service port the route applies to; undefined: every port (no port named, or the Service has one). */
  port: number | undefined;
}

/**
 * The parents of a route, deduplicated, in parentRef order. A parentRef's `port`, or its
 * `sectionName` (a Service port's name), restricts it to that port (spec); one naming a port the
 * Service does not have does not attach. On a Service with one port, naming that port is the same as
 * naming none. A parentRef in another namespace is a GAMMA "consumer route", which applies only to
 * callers in the route's namespace; Petrel does not implement it, so it does not attach. Each
 * parentRef that does not attach is reported through `skipped`.
 */
export function attachments(route: StoredRoute, portsOf: PortsOf, skipped?: (why: string) => void): Attachment[] {
  const out: Attachment[] = [];
  const seen = new Set<string>();
  (route.spec.parentRefs ?? []).forEach((ref: HttpRouteParentRef, i) => {
    const at = `${route.kind} ${route.key}: spec.parentRefs[${i}]`;
    if (ref.group !== '' || ref.kind !== 'Service') return skipped?.(`${at}: not a Service (group "" kind Service); not attached`);
    const namespace = ref.namespace ?? route.namespace;
    if (namespace !== route.namespace) return skipped?.(`${at}: a Service in another namespace (consumer routes are not implemented); not attached`);
    const ports = portsOf(ref.name, namespace);
    const listed = ports.map((p) => p.port).join(', ');
    let port: number | undefined;
    if (ref.sectionName !== undefined) {
      port = ports.find((p) => p.name === ref.sectionName)?.port;
      if (port === undefined) return skipped?.(`${at}: sectionName "${ref.sectionName}" names no port of ${ref.name}; not attached`);
    }
    if (ref.port !== undefined) {
      if (!ports.some((p) => p.port === ref.port) || (port !== undefined && port !== ref.port)) return skipped?.(`${at}: port ${ref.port} is not a port of ${ref.name} (${listed}); not attached`);
      port = ref.port;
    }
    if (ports.length === 1) port = undefined;
    const key = serviceKey(ref.name, namespace);
    const id = `${key}:${port ?? '*'}`;
    if (seen.has(id)) return;
    seen.add(id);
    out.push({ key, name: ref.name, namespace, port });
  });
  // A parentRef for every port covers the same Service's port-specific ones: rules are not listed twice.
  return out.filter((a) => a.port === undefined || !seen.has(`${a.key}:*`));
}
