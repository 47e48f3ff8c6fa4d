// The Services a snapshot must list because routing names them, whether or not they have endpoints:
// a route's parent (routes may be applied before the pods start, and the caller's sidecar must
// already route by them) and every backend and mirror (the sidecar needs the name to send to, and
// answers 503 UH while it has no endpoints).
import type { RoutingSpec } from '../../api/types.ts';
import { serviceKey } from './stored-route.ts';

export interface ServiceName {
  name: string;
  namespace: string;
}

/**
 * Every Service `routing` names, keyed "name.namespace". The parents are the map's keys: Service and
 * namespace names are DNS labels (the snapshot schema's pattern), so the first dot splits them.
 */
export function servicesNamedByRouting(routing: ReadonlyMap<string, RoutingSpec>): Map<string, ServiceName> {
  const out = new Map<string, ServiceName>();
  const add = (name: string, namespace: string) => {
    const key = serviceKey(name, namespace);
    if (!out.has(key)) out.set(key, { name, namespace });
  };
  for (const [key, spec] of routing) {
    const dot = key.indexOf('.');
    add(key.slice(0, dot), key.slice(dot + 1));
    for (const rule of spec.rules) {
      for (const b of rule.backends) add(b.service, b.namespace);
      for (const m of rule.filters?.mirror ?? []) add(m.service, m.namespace);
    }
  }
  return out;
}
