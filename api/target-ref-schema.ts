// What a ResiliencePolicy or an AccessPolicy applies to (`spec.targetRef`): a Service, or a
// Gateway API route (GEP-713 direct policy attachment), either whole or one of its rules by name
// (`sectionName`, the rule's GEP-995 name). One schema for both kinds of policy; what a schema cannot
// say (which group goes with which kind, which fields a route target may set) is checked by
// checkTargetRef in api/validate.ts.

/** Gateway API SectionName: a rule name (GEP-995), a listener or port name. */
export const sectionName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };

export const GATEWAY_API_GROUP = 'gateway.networking.k8s.io';
export const ROUTE_TARGET_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;
export type RouteTargetKind = (typeof ROUTE_TARGET_KINDS)[number];

export const isRouteTarget = (ref: { kind: string } | undefined): ref is { kind: RouteTargetKind; name: string; sectionName?: string } =>
  ref !== undefined && (ROUTE_TARGET_KINDS as readonly string[]).includes(ref.kind);

export function targetRefSchema(description: string, name: object): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['kind', 'name'],
    description,
    properties: {
      group: { type: 'string', enum: ['', GATEWAY_API_GROUP], description: '"" (the default) for a Service; "gateway.networking.k8s.io" for an HTTPRoute or GRPCRoute.' },
      kind: { type: 'string', enum: ['Service', ...ROUTE_TARGET_KINDS] },
      name,
      sectionName: { ...sectionName, description: 'Route targets only: the name of one rule (GEP-995); omit it to target every rule of the route.' },
    },
  };
}
