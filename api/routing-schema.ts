// JSON Schema of a snapshot service's `routing` (RoutingSpec in api/types.ts): the HTTPRoutes
// attached to the service, compiled by the control plane into matches in precedence order and the
// rules they point at. Timeouts and retries use the policy body's own schemas (and limits).
import { headerName, headerValue, HTTP_ROUTE_METHODS, preciseHostname as hostname, REDIRECT_STATUS_CODES } from './http-route-schema.ts';
import { faultSchema, rateLimitSchema, retrySchema, timeoutSchema } from './policy-schema.ts';

const serviceName = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const nameValue = (valueMax: number) => ({
  type: 'object', additionalProperties: false, required: ['name', 'value'],
  properties: { name: headerName, value: headerValue(valueMax) },
});

export const routeMatchSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: {
      type: 'object', additionalProperties: false, required: ['type', 'value'],
      properties: { type: { type: 'string', enum: ['Exact', 'PathPrefix'] }, value: { type: 'string', pattern: '^/', maxLength: 1024 } },
    },
    method: { type: 'string', enum: [...HTTP_ROUTE_METHODS] },
    headers: { type: 'array', maxItems: 16, items: nameValue(4096) },
    queryParams: { type: 'array', maxItems: 16, items: nameValue(1024) },
  },
};

const headerModifierSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    set: { type: 'array', maxItems: 16, items: nameValue(4096) },
    add: { type: 'array', maxItems: 16, items: nameValue(4096) },
    remove: { type: 'array', maxItems: 16, items: headerName },
  },
};

const pathModifierSchema = {
  type: 'object', additionalProperties: false, required: ['type', 'value'],
  properties: { type: { type: 'string', enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] }, value: { type: 'string', maxLength: 1024 } },
};

const backendSchema = {
  type: 'object', additionalProperties: false, required: ['service', 'namespace', 'weight'],
  properties: { service: serviceName, namespace: serviceName, port: { type: 'integer', minimum: 1, maximum: 65535 }, weight: { type: 'integer', minimum: 0, maximum: 1_000_000 } },
};

/** Field path -> where its value came from ("ResiliencePolicy shop/payments in policies.yaml"), for /config_dump. */
export const valueSourcesSchema = {
  type: 'object', maxProperties: 64,
  propertyNames: { maxLength: 128 },
  additionalProperties: { type: 'string', maxLength: 1024 },
};

export const routeRuleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'source', 'backends'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 512, description: 'The route metric label: the rule name, else "<route>.<index>".' },
    source: { type: 'string', minLength: 1, maxLength: 1024, description: '"HTTPRoute ns/name rule N".' },
    backends: { type: 'array', maxItems: 16, items: backendSchema },
    unresolved: { type: 'string', minLength: 1, maxLength: 1024, description: 'Why the backends cannot be resolved: the rule answers 500.' },
    invalid: {
      type: 'object', additionalProperties: false, required: ['weight', 'why'],
      description: 'The weight of the backendRefs that are invalid while others are valid: that share of calls is answered 500.',
      properties: { weight: { type: 'integer', minimum: 1, maximum: 16_000_000 }, why: { type: 'string', minLength: 1, maxLength: 1024 } },
    },
    filters: {
      type: 'object',
      additionalProperties: false,
      properties: {
        requestHeaders: headerModifierSchema,
        responseHeaders: headerModifierSchema,
        redirect: {
          type: 'object', additionalProperties: false, required: ['statusCode'],
          properties: {
            scheme: { type: 'string', enum: ['http', 'https'] },
            hostname,
            path: pathModifierSchema,
            port: { type: 'integer', minimum: 1, maximum: 65535 },
            statusCode: { type: 'integer', enum: [...REDIRECT_STATUS_CODES] },
          },
        },
        rewrite: { type: 'object', additionalProperties: false, properties: { hostname, path: pathModifierSchema } },
        mirror: {
          type: 'array', maxItems: 16,
          items: {
            type: 'object', additionalProperties: false, required: ['service', 'namespace', 'percent'],
            properties: { service: serviceName, namespace: serviceName, port: { type: 'integer', minimum: 1, maximum: 65535 }, percent: { type: 'number', minimum: 0, maximum: 100 } },
          },
        },
      },
    },
    timeout: timeoutSchema,
    retry: retrySchema,
    rateLimit: rateLimitSchema,
    fault: faultSchema,
    sources: valueSourcesSchema,
  },
};

export const routingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['matches', 'rules'],
  description: 'HTTPRoutes attached to the service: every match in precedence order (the first that matches wins), each naming its rule.',
  properties: {
    matches: {
      type: 'array',
      items: {
        type: 'object', additionalProperties: false, required: ['match', 'rule'],
        properties: { match: routeMatchSchema, rule: { type: 'integer', minimum: 0 } },
      },
    },
    rules: { type: 'array', items: routeRuleSchema },
  },
};
