// What the targetRef schema cannot say (api/target-ref-schema.ts): which group goes with which
// kind, that only a route target has a sectionName, and which policy fields make sense on a route.
// A route rule is a set of requests, not a set of endpoints: breakers, connection limits and the
// balancer belong to the backend Service, and mTLS to a whole Service, so a route target refuses them
// by name rather than ignoring them.
import type { AccessPolicySpec, PolicyTargetRef, ResiliencePolicySpec } from './types.ts';
import { GATEWAY_API_GROUP, isRouteTarget } from './target-ref-schema.ts';
import { joinPath, type ValidationIssue } from './validation-issue.ts';

const issue = (segments: (string | number)[], message: string): ValidationIssue => ({ path: joinPath(segments), segments, message });

function checkRef(ref: PolicyTargetRef): ValidationIssue[] {
  const at = ['spec', 'targetRef'];
  const group = ref.group ?? '';
  if (!isRouteTarget(ref)) {
    const out: ValidationIssue[] = [];
    if (group !== '') out.push(issue([...at, 'group'], `must be "" (the core group) for kind Service, not "${group}"`));
    if (ref.sectionName !== undefined) out.push(issue([...at, 'sectionName'], 'only an HTTPRoute or GRPCRoute target has a sectionName (the name of one of its rules)'));
    return out;
  }
  return group === GATEWAY_API_GROUP ? [] : [issue([...at, 'group'], `must be "${GATEWAY_API_GROUP}" for kind ${ref.kind}`)];
}

/** The fields a ResiliencePolicy cannot set on a route, and why. */
const NOT_ON_A_ROUTE: Record<string, string> = {
  circuitBreaker: 'breakers belong to the backend Service\'s endpoints: target the backend Service (kind: Service)',
  concurrency: 'connection and request limits belong to the backend Service: target the backend Service (kind: Service)',
  loadBalancer: 'the balancer belongs to the backend Service: target the backend Service (kind: Service)',
  routes: 'the routes shorthand has no meaning on an HTTPRoute: its rules are the routes (target one with sectionName)',
};

export function checkResiliencePolicyTarget(spec: ResiliencePolicySpec): ValidationIssue[] {
  if (spec.targetRef === undefined) return [];
  const out = checkRef(spec.targetRef);
  if (isRouteTarget(spec.targetRef)) {
    for (const [field, why] of Object.entries(NOT_ON_A_ROUTE)) {
      if ((spec as Record<string, unknown>)[field] !== undefined) out.push(issue(['spec', field], `cannot be set by a policy on a route (${spec.targetRef.kind}): ${why}`));
    }
  }
  return out;
}

export function checkAccessPolicyTarget(spec: AccessPolicySpec): ValidationIssue[] {
  if (spec.targetRef === undefined) return [];
  const out = checkRef(spec.targetRef);
  if (isRouteTarget(spec.targetRef)) {
    if (spec.mtls !== undefined) out.push(issue(['spec', 'mtls'], `cannot be set by a policy on a route (${spec.targetRef.kind}): mTLS applies to a whole Service (target the Service)`));
    if (spec.rules === undefined) out.push(issue(['spec', 'rules'], `is required on a policy on a route (${spec.targetRef.kind}): it lists who may make the calls the route sends (an empty list allows nobody)`));
  }
  return out;
}
