// The JSON Schema of a GRPCRoute document (gateway.networking.k8s.io/v1, GEP-1016), the subset Petrel
// implements for a mesh (GAMMA): built from the HTTPRoute schema's parts, with the GRPCRoute spec's
// own limits (8 matches per rule, 16 rules, 128 matches in all) and CEL character rules for service
// and method. What a schema cannot say (a method match without a service, the filter type and its
// field, unique rule names) is in api/validate.ts (checkGrpcRouteSemantics). A GRPCRoute has no
// timeouts or retry: the spec does not define them on a GRPCRoute rule, so they are unknown fields.
import {
  headerFilter, headerName, MESSAGES_KEYWORD, notImplemented, regexNotImplemented, requestMirrorFilter,
  routeBackendRefs, routeDocumentSchema, routeSpecSchema, sectionName,
} from './http-route-schema.ts';

export const GRPC_ROUTE_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;

/** The spec's CEL rules for an Exact service and method (its `(?i)` written out as both cases). */
export const GRPC_SERVICE_PATTERN = '^\\.?[A-Za-z_][A-Za-z_0-9]*(\\.[A-Za-z_][A-Za-z_0-9]*)*$';
export const GRPC_METHOD_PATTERN = '^[A-Za-z_][A-Za-z_0-9]*$';

const grpcRouteMatch = {
  type: 'object',
  additionalProperties: false,
  properties: {
    method: {
      type: 'object',
      additionalProperties: false,
      description: 'Default: every service and method. At least one of service and method (Petrel: a service whenever a method is given).',
      properties: {
        type: { type: 'string', enum: ['Exact', 'RegularExpression'], ...regexNotImplemented('method', 'Exact') },
        service: {
          type: 'string', maxLength: 1024, pattern: GRPC_SERVICE_PATTERN,
          [MESSAGES_KEYWORD]: { pattern: `must be a gRPC service name such as "petrel.test.Echo" (${GRPC_SERVICE_PATTERN})` },
        },
        method: {
          type: 'string', maxLength: 1024, pattern: GRPC_METHOD_PATTERN,
          [MESSAGES_KEYWORD]: { pattern: `must be a gRPC method name such as "Unary" (${GRPC_METHOD_PATTERN})` },
        },
      },
    },
    headers: {
      type: 'array',
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'value'],
        properties: {
          type: { type: 'string', enum: ['Exact', 'RegularExpression'], ...regexNotImplemented('header', 'Exact') },
          name: headerName,
          value: { type: 'string', minLength: 1, maxLength: 4096 },
        },
      },
    },
  },
};

const grpcRouteFilter = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: {
      type: 'string', enum: [...GRPC_ROUTE_FILTER_TYPES],
      [MESSAGES_KEYWORD]: { enum: `must be one of: ${GRPC_ROUTE_FILTER_TYPES.map((t) => JSON.stringify(t)).join(', ')} (Petrel does not implement ExtensionRef or other filters)` },
    },
    requestHeaderModifier: headerFilter,
    responseHeaderModifier: headerFilter,
    requestMirror: requestMirrorFilter,
    extensionRef: notImplemented('Petrel does not implement ExtensionRef filters'),
  },
};

const grpcRouteRule = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { ...sectionName, description: 'GEP-995: unique within the route; the route metric label.' },
    matches: { type: 'array', maxItems: 8, items: grpcRouteMatch, description: 'Default: every gRPC request.' },
    filters: { type: 'array', maxItems: 16, items: grpcRouteFilter },
    backendRefs: routeBackendRefs,
    sessionPersistence: notImplemented('Petrel does not implement sessionPersistence'),
  },
};

export const grpcRouteSpecSchema = routeSpecSchema(grpcRouteRule, 'Default one rule that matches every call.');

export const grpcRouteDocumentSchema = routeDocumentSchema('GRPCRoute', grpcRouteSpecSchema);
