// An HTTPRoute as the control plane keeps it. The policy sources (the policy directory, later the
// Kubernetes API) produce it as a StoredPolicy of kind 'HTTPRoute'; this interface has exactly those
// fields so that the routing compiler does not depend on how a source stores the rest.
import type { HttpRouteSpec } from '../../api/types.ts';

export interface StoredHttpRoute {
  readonly kind: 'HTTPRoute';
  /** "namespace/name": the alphabetical tie-break of the Gateway API precedence. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** Already schema-valid: the compiler trusts field types and enums. */
  readonly spec: HttpRouteSpec;
  /** "file.yaml (document 2)" or "kubernetes", for warnings. */
  readonly origin: string;
  /** metadata.creationTimestamp (RFC 3339): the oldest route wins ties. Absent locally unless written. */
  readonly creationTimestamp?: string;
}

/** What the compiler needs to know of a Service: its port (locally every Service has one, 80). */
export interface RoutingService {
  readonly name: string;
  readonly namespace: string;
  readonly port?: number;
}

/** "name.namespace": how the control plane keys services (registry, policy index). */
export const serviceKey = (name: string, namespace: string): string => `${name}.${namespace}`;

/**
 * The HTTPRoutes among a source's stored resources. Typed loosely on purpose: the policy sources'
 * StoredPolicy union gains its 'HTTPRoute' member separately, and this must compile before and after.
 */
export function httpRoutesOf(stored: readonly { readonly kind: string }[]): StoredHttpRoute[] {
  return stored.filter((p): p is StoredHttpRoute => p.kind === 'HTTPRoute');
}
