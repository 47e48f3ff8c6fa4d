// HTTPRoute and GRPCRoute status as the Gateway API defines it for mesh routes (GEP-1324): one `status.parents[]`
// entry per parentRef that names a Service, written by this controller (controllerName), each with
// the conditions Accepted and ResolvedRefs. Entries of other controllers (a Gateway implementation
// sharing the route) are kept as they are. Pure functions: kubernetes.ts reads and writes.
import type { HttpRouteBackendRef, HttpRouteParentRef } from '../../api/types.ts';

/** The controllerName Petrel writes on the route status entries it owns. */
export const MESH_CONTROLLER_NAME = 'petrel.dev/mesh';

export interface RouteCondition {
  type: 'Accepted' | 'ResolvedRefs';
  status: 'True' | 'False';
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime?: string;
}

export interface RouteParentStatus {
  parentRef: HttpRouteParentRef;
  controllerName: string;
  conditions: RouteCondition[];
}

/** What route status needs to know of the cluster's Services. */
export interface ServiceLookup {
  /** false: the Service does not exist; undefined: not known (the index is over its bound). */
  exists(namespace: string, name: string): boolean | undefined;
  get(namespace: string, name: string): { ports: readonly { port: number; name?: string }[] } | undefined;
}

/** A route as the API server stores it (already defaulted: parentRef group/kind are explicit). */
export interface RouteObject {
  metadata?: { name?: string; namespace?: string; generation?: number };
  spec?: { parentRefs?: unknown; rules?: unknown };
  status?: { parents?: RouteParentStatus[] };
}

/** The parentRefs that name a Service (group "" and kind Service): the ones the mesh answers for. */
export function serviceParents(route: RouteObject): HttpRouteParentRef[] {
  const refs = route.spec?.parentRefs;
  if (!Array.isArray(refs)) return [];
  return refs.filter((r): r is HttpRouteParentRef => typeof r === 'object' && r !== null && (r as HttpRouteParentRef).group === '' && (r as HttpRouteParentRef).kind === 'Service' && typeof (r as HttpRouteParentRef).name === 'string');
}

type Verdict = Pick<RouteCondition, 'status' | 'reason' | 'message'>;

/**
 * ResolvedRefs: True, or False with the reason of the first backendRef (or mirror backendRef) that
 * does not resolve: InvalidKind (not a Service), RefNotPermitted (another namespace: no
 * ReferenceGrant support), BackendNotFound (no such Service, or no such port on it).
 */
export function resolvedRefs(route: RouteObject, services: ServiceLookup): Verdict {
  const namespace = route.metadata?.namespace ?? 'default';
  const rules = Array.isArray(route.spec?.rules) ? (route.spec.rules as { backendRefs?: unknown; filters?: unknown }[]) : [];
  const refs: { at: string; ref: HttpRouteBackendRef }[] = [];
  rules.forEach((rule, r) => {
    if (Array.isArray(rule?.backendRefs)) (rule.backendRefs as HttpRouteBackendRef[]).forEach((ref, b) => refs.push({ at: `spec.rules[${r}].backendRefs[${b}]`, ref }));
    if (Array.isArray(rule?.filters)) {
      (rule.filters as { requestMirror?: { backendRef?: HttpRouteBackendRef } }[]).forEach((f, i) => {
        const ref = f?.requestMirror?.backendRef;
        if (ref !== undefined) refs.push({ at: `spec.rules[${r}].filters[${i}].requestMirror.backendRef`, ref });
      });
    }
  });
  for (const { at, ref } of refs) {
    if (typeof ref !== 'object' || ref === null) continue;
    const group = ref.group ?? '';
    const kind = ref.kind ?? 'Service';
    if (group !== '' || kind !== 'Service') {
      return { status: 'False', reason: 'InvalidKind', message: `${at}: ${kind}${group === '' ? '' : `.${group}`} is not a kind Petrel routes to; a backendRef must name a Service` };
    }
    const refNamespace = ref.namespace ?? namespace;
    if (refNamespace !== namespace) {
      return { status: 'False', reason: 'RefNotPermitted', message: `${at}: Service ${refNamespace}/${ref.name} is in another namespace; cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet` };
    }
    if (services.exists(namespace, ref.name) === false) {
      return { status: 'False', reason: 'BackendNotFound', message: `${at}: Service ${namespace}/${ref.name} not found` };
    }
    const ports = services.get(namespace, ref.name)?.ports;
    if (ref.port !== undefined && ports !== undefined && !ports.some((p) => p.port === ref.port)) {
      return { status: 'False', reason: 'BackendNotFound', message: `${at}: Service ${namespace}/${ref.name} has no port ${ref.port}` };
    }
  }
  return { status: 'True', reason: 'ResolvedRefs', message: 'every backendRef names a Service that exists' };
}

/** An HTTPRoute parent's Conflicted message (a GRPCRoute holds that Service and port), or undefined. */
export type ConflictLookup = (parent: HttpRouteParentRef) => string | undefined;

/**
 * Accepted for one Service parent: False/UnsupportedValue when the route fails Petrel's validation
 * (`invalid` is the message), False/NoMatchingParent when the Service (or its port) does not exist,
 * False/Conflicted when a route of the winning type holds that Service and port (GEP-1294), else
 * True/Accepted.
 */
function accepted(route: RouteObject, parent: HttpRouteParentRef, invalid: string | undefined, services: ServiceLookup, conflicted: ConflictLookup | undefined): Verdict {
  if (invalid !== undefined) return { status: 'False', reason: 'UnsupportedValue', message: invalid };
  const namespace = parent.namespace ?? route.metadata?.namespace ?? 'default';
  if (services.exists(namespace, parent.name) === false) return { status: 'False', reason: 'NoMatchingParent', message: `Service ${namespace}/${parent.name} not found` };
  const ports = services.get(namespace, parent.name)?.ports;
  if (parent.port !== undefined && ports !== undefined && !ports.some((p) => p.port === parent.port)) {
    return { status: 'False', reason: 'NoMatchingParent', message: `Service ${namespace}/${parent.name} has no port ${parent.port}` };
  }
  if (parent.sectionName !== undefined && ports !== undefined && !ports.some((p) => p.name === parent.sectionName)) {
    return { status: 'False', reason: 'NoMatchingParent', message: `Service ${namespace}/${parent.name} has no port named ${parent.sectionName}` };
  }
  const conflict = conflicted?.(parent);
  if (conflict !== undefined) return { status: 'False', reason: 'Conflicted', message: conflict };
  return { status: 'True', reason: 'Accepted', message: 'the route is in force in the Petrel mesh' };
}

/** The entries this controller owes the route (without lastTransitionTime), one per Service parent. */
export function desiredParents(route: RouteObject, invalid: string | undefined, services: ServiceLookup, conflicted?: ConflictLookup): RouteParentStatus[] {
  const generation = route.metadata?.generation;
  const refs = resolvedRefs(route, services);
  const at = (type: RouteCondition['type'], v: Verdict): RouteCondition => ({ type, ...v, ...(generation === undefined ? {} : { observedGeneration: generation }) });
  return serviceParents(route).map((parentRef) => ({
    parentRef,
    controllerName: MESH_CONTROLLER_NAME,
    conditions: [at('Accepted', accepted(route, parentRef, invalid, services, conflicted)), at('ResolvedRefs', refs)],
  }));
}

const parentKey = (p: HttpRouteParentRef): string => JSON.stringify([p.group ?? '', p.kind ?? '', p.namespace ?? '', p.name, p.sectionName ?? '', p.port ?? null]);
const withoutTimes = (entries: readonly RouteParentStatus[]): string => JSON.stringify(entries.map((e) => ({
  parentRef: parentKey(e.parentRef), controllerName: e.controllerName,
  conditions: e.conditions.map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration ?? null]),
})));

/**
 * The status.parents to write, or undefined when the route already carries exactly these entries
 * for this controller. Other controllers' entries are kept, first and in their order; a condition
 * keeps its lastTransitionTime while its status does not change.
 */
export function mergeParents(current: readonly RouteParentStatus[] | undefined, desired: readonly RouteParentStatus[], now: string): RouteParentStatus[] | undefined {
  const existing: readonly RouteParentStatus[] = Array.isArray(current) ? current : [];
  const mine = existing.filter((p) => p?.controllerName === MESH_CONTROLLER_NAME);
  if (withoutTimes(mine) === withoutTimes(desired)) return undefined;
  const previous = new Map<string, RouteParentStatus>(mine.map((p) => [parentKey(p.parentRef), p]));
  const stamped = desired.map((entry) => {
    const before = previous.get(parentKey(entry.parentRef));
    return {
      ...entry,
      conditions: entry.conditions.map((c) => {
        const old = before?.conditions?.find((o) => o.type === c.type);
        return { ...c, lastTransitionTime: old !== undefined && old.status === c.status && old.lastTransitionTime !== undefined ? old.lastTransitionTime : now };
      }),
    };
  });
  return [...existing.filter((p) => p?.controllerName !== MESH_CONTROLLER_NAME), ...stamped];
}
