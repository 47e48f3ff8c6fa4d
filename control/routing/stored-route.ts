// An HTTPRoute or GRPCRoute as the control plane keeps it. The policy sources (the policy directory, later the
// Kubernetes API) produce it as a StoredPolicy of kind 'HTTPRoute'; this interface has exactly those
// fields so that the routing compiler does not depend on how a source stores the rest.
import type { GrpcRouteSpec, HttpRouteSpec } from '../../api/types.ts';

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

/** A GRPCRoute (GEP-1016): the same fields, a GRPCRoute spec. */
export interface StoredGrpcRoute {
  readonly kind: 'GRPCRoute';
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly spec: GrpcRouteSpec;
  readonly origin: string;
  readonly creationTimestamp?: string;
}

/** Either route kind the routing compiler takes. */
export type StoredRoute = StoredHttpRoute | StoredGrpcRoute;

/** A Service port as routing sees it: its number, and its name for a parentRef's sectionName. */
export interface RoutingServicePort {
  readonly port: number;
  readonly name?: string;
}

/**
 * What the compiler needs to know of a Service: its ports, in the Service's order (the first also
 * takes calls on ports the Service does not list). `port` alone is a Service with that one port;
 * neither: one port, the compiler's default (80 locally, DESIGN.md).
 */
export interface RoutingService {
  readonly name: string;
  readonly namespace: string;
  readonly port?: number;
  readonly ports?: readonly RoutingServicePort[];
}

/** A Service's ports by name and namespace (never empty: an unknown Service has the default port). */
export type PortsOf = (name: string, namespace: string) => readonly RoutingServicePort[];

/** "name.namespace": how the control plane keys services (registry, policy index). */
export const serviceKey = (name: string, namespace: string): string => `${name}.${namespace}`;

/**
 * The HTTPRoutes among a source's stored resources. Typed loosely on purpose: the policy sources'
 * StoredPolicy union gains its 'HTTPRoute' member separately, and this must compile before and after.
 */
export function httpRoutesOf(stored: readonly { readonly kind: string }[]): StoredHttpRoute[] {
  return stored.filter((p): p is StoredHttpRoute => p.kind === 'HTTPRoute');
}

/** The HTTPRoutes and GRPCRoutes among a source's stored resources (typed loosely, as httpRoutesOf). */
export function routesOf(stored: readonly { readonly kind: string }[]): StoredRoute[] {
  return stored.filter((p): p is StoredRoute => p.kind === 'HTTPRoute' || p.kind === 'GRPCRoute');
}
