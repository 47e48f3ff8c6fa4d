// The JSON Schema of an HTTPRoute document (gateway.networking.k8s.io/v1), the Gateway API subset
// Petrel implements for a mesh (GAMMA, GEP-1324): field names, limits and enums are the spec's own.
// Unknown fields are refused; fields the spec defines but Petrel does not implement are refused with
// a message that says so (MESSAGES_KEYWORD below). What a schema cannot say (the filter type and its
// field, rule-level CEL rules of the spec, cross-namespace references) is in api/validate.ts.
// The Gateway API CRDs are upstream's: nothing here generates one.
import { MAX_DURATION_KEYWORD, MAX_POLICY_DURATION_MS, MAX_SHORT_DURATION_MS } from './policy-schema.ts';
import { formatDuration } from './duration.ts';
import { sectionName } from './target-ref-schema.ts';

/**
 * The schema keyword holding messages that replace ajv's, keyed by the failing keyword ("not",
 * "const", "maxItems", ...) or "required:<field>". api/validate.ts reads it from the schema node an
 * error points at; ajv treats it as an annotation.
 */
export const MESSAGES_KEYWORD = 'x-petrel-messages';

/** GEP-2257: the Gateway API duration format. */
export const GATEWAY_DURATION_PATTERN = '^([0-9]{1,5}(h|m|s|ms)){1,4}$';

export const HTTP_ROUTE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
export const REDIRECT_STATUS_CODES = [301, 302, 303, 307, 308] as const;
export const HTTP_ROUTE_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'] as const;

/** A field Petrel does not implement: refused whatever its value, with `message`. */
export const notImplemented = (message: string) => ({ not: {}, [MESSAGES_KEYWORD]: { not: message } });

const duration = (description: string, maxMs: number) => ({
  type: 'string',
  pattern: GATEWAY_DURATION_PATTERN,
  [MAX_DURATION_KEYWORD]: formatDuration(maxMs),
  description: `${description} A Gateway API duration (GEP-2257) such as "10s" or "500ms"; "0s" disables it. At most ${formatDuration(maxMs)} in Petrel.`,
});

export { sectionName };
export const namespace = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
export const group = { type: 'string', maxLength: 253, pattern: '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
export const kind = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$' };
export const objectName = { type: 'string', minLength: 1, maxLength: 253 };
export const port = { type: 'integer', minimum: 1, maximum: 65535 };
export const headerName = { type: 'string', minLength: 1, maxLength: 256, pattern: '^[A-Za-z0-9!#$%&\'*+\\-.^_`|~]+$' };
/**
 * A header value the sidecar will write: no control characters but tab. The Gateway API leaves it to
 * implementations; a CR or LF would be refused by Node per request, so it is refused here, on arrival.
 */
export const headerValue = (maxLength: number) => ({
  type: 'string', minLength: 1, maxLength, pattern: '^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f]*$',
  [MESSAGES_KEYWORD]: { pattern: 'must not contain control characters (CR, LF, NUL...): a header value cannot carry them' },
});
export const preciseHostname = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };
export const hostname = { type: 'string', minLength: 1, maxLength: 253, pattern: '^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$' };

export const regexNotImplemented = (what: string, instead: string) => ({
  not: { const: 'RegularExpression' },
  [MESSAGES_KEYWORD]: { not: `RegularExpression ${what} matches: Petrel does not implement them; use ${instead}` },
});

/** A reference to a backend (BackendObjectReference): group "" and kind Service by default. */
export const backendObjectReference = {
  group: { ...group, description: 'Default "" (the core API group).' },
  kind: { ...kind, description: 'Default Service.' },
  name: objectName,
  namespace: { ...namespace, description: 'Default: the route\'s namespace. Another namespace needs a ReferenceGrant, which Petrel does not implement yet.' },
  port: { ...port, description: 'Required for a Service (the spec\'s "Must have port for Service reference"); locally a Service has one port.' },
};

export const parentRef = {
  type: 'object',
  additionalProperties: false,
  required: ['group', 'kind', 'name'],
  description: 'The Service the route attaches to (GEP-1324): group "" and kind Service, which are not the spec\'s defaults (a Gateway).',
  properties: {
    group: {
      type: 'string', const: '',
      [MESSAGES_KEYWORD]: { const: 'must be "" (a core Service): Petrel attaches routes to Services only and does not implement Gateway parents' },
    },
    kind: {
      type: 'string', const: 'Service',
      [MESSAGES_KEYWORD]: { const: 'must be "Service": Petrel attaches routes to Services only and does not implement Gateway parents' },
    },
    namespace,
    name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    sectionName,
    port,
  },
  [MESSAGES_KEYWORD]: {
    'required:group': 'is required: write group: "" for a Service (the default, gateway.networking.k8s.io, names a Gateway, which Petrel does not implement)',
    'required:kind': 'is required: write kind: Service (the default, Gateway, is a parent Petrel does not implement)',
  },
};

export const headerMatch = (valueMax: number) => ({
  type: 'object',
  additionalProperties: false,
  required: ['name', 'value'],
  properties: {
    type: { type: 'string', enum: ['Exact', 'RegularExpression'], ...regexNotImplemented('header and query parameter', 'Exact') },
    name: headerName,
    value: { type: 'string', minLength: 1, maxLength: valueMax },
  },
});

const httpRouteMatch = {
  type: 'object',
  additionalProperties: false,
  properties: {
    path: {
      type: 'object',
      additionalProperties: false,
      description: 'Default { type: PathPrefix, value: "/" }.',
      properties: {
        type: { type: 'string', enum: ['Exact', 'PathPrefix', 'RegularExpression'], ...regexNotImplemented('path', 'Exact or PathPrefix') },
        value: {
          type: 'string', maxLength: 1024,
          pattern: '^/(?:[-A-Za-z0-9/._~!$&\'()*+,;=:@]|%[0-9a-fA-F]{2})*$',
          [MESSAGES_KEYWORD]: { pattern: 'must be an absolute path: start with "/" and hold only path characters or %-escapes' },
        },
      },
    },
    headers: { type: 'array', maxItems: 16, items: headerMatch(4096) },
    queryParams: { type: 'array', maxItems: 16, items: headerMatch(1024) },
    method: { type: 'string', enum: [...HTTP_ROUTE_METHODS] },
  },
};

const headerList = { type: 'array', maxItems: 16, items: { type: 'object', additionalProperties: false, required: ['name', 'value'], properties: { name: headerName, value: headerValue(4096) } } };
export const headerFilter = {
  type: 'object',
  additionalProperties: false,
  properties: { set: headerList, add: headerList, remove: { type: 'array', maxItems: 16, items: headerName } },
};

const pathModifier = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { type: 'string', enum: ['ReplaceFullPath', 'ReplacePrefixMatch'] },
    replaceFullPath: { type: 'string', maxLength: 1024 },
    replacePrefixMatch: { type: 'string', maxLength: 1024 },
  },
};

/** RequestMirror (HTTPRequestMirrorFilter), shared by HTTPRoute and GRPCRoute. */
export const requestMirrorFilter = {
  type: 'object',
  additionalProperties: false,
  required: ['backendRef'],
  properties: {
    backendRef: { type: 'object', additionalProperties: false, required: ['name'], properties: backendObjectReference },
    percent: { type: 'integer', minimum: 0, maximum: 100 },
    fraction: {
      type: 'object',
      additionalProperties: false,
      required: ['numerator'],
      properties: { numerator: { type: 'integer', minimum: 0 }, denominator: { type: 'integer', minimum: 1, description: 'Default 100.' } },
    },
  },
};

const httpRouteFilter = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: {
      type: 'string', enum: [...HTTP_ROUTE_FILTER_TYPES],
      [MESSAGES_KEYWORD]: { enum: `must be one of: ${HTTP_ROUTE_FILTER_TYPES.map((t) => JSON.stringify(t)).join(', ')} (Petrel does not implement ExtensionRef or other filters)` },
    },
    requestHeaderModifier: headerFilter,
    responseHeaderModifier: headerFilter,
    requestRedirect: {
      type: 'object',
      additionalProperties: false,
      properties: {
        scheme: { type: 'string', enum: ['http', 'https'] },
        hostname: preciseHostname,
        path: pathModifier,
        port,
        statusCode: { type: 'integer', enum: [...REDIRECT_STATUS_CODES], description: 'Default 302.' },
      },
    },
    urlRewrite: { type: 'object', additionalProperties: false, properties: { hostname: preciseHostname, path: pathModifier } },
    requestMirror: requestMirrorFilter,
    extensionRef: notImplemented('Petrel does not implement ExtensionRef filters'),
  },
};

/** A rule's weighted backendRefs, the same for HTTPRoute and GRPCRoute. */
export const routeBackendRefs = {
  type: 'array',
  maxItems: 16,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      ...backendObjectReference,
      weight: { type: 'integer', minimum: 0, maximum: 1_000_000, description: 'Default 1.' },
      filters: notImplemented('Petrel does not implement backendRef filters; put the filter on the rule'),
    },
  },
};

const httpRouteRule = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { ...sectionName, description: 'GEP-995: unique within the route; the route metric label.' },
    matches: { type: 'array', maxItems: 64, items: httpRouteMatch, description: 'Default [{ path: { type: PathPrefix, value: "/" } }].' },
    filters: { type: 'array', maxItems: 16, items: httpRouteFilter },
    backendRefs: routeBackendRefs,
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        request: duration('The whole request (Petrel\'s total timeout).', MAX_POLICY_DURATION_MS),
        backendRequest: duration('One request to a backend (Petrel\'s per-try timeout).', MAX_POLICY_DURATION_MS),
      },
    },
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: {
        codes: { type: 'array', items: { type: 'integer', minimum: 400, maximum: 599 } },
        attempts: {
          type: 'integer', minimum: 0, maximum: 9,
          description: 'Retries, the first try not counted (GEP-1731). At most 9 in Petrel (10 tries).',
          [MESSAGES_KEYWORD]: { maximum: 'must be <= 9: Petrel makes at most 10 tries, the first included' },
        },
        backoff: duration('The minimum delay between tries.', MAX_SHORT_DURATION_MS),
      },
    },
    sessionPersistence: notImplemented('Petrel does not implement sessionPersistence'),
  },
};

/** An HTTPRoute's or GRPCRoute's spec: Service parents, no hostnames, rules of the route's kind. */
export function routeSpecSchema(rule: object, rulesDescription: string): object {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      parentRefs: { type: 'array', maxItems: 32, items: parentRef },
      hostnames: {
        type: 'array', maxItems: 0, items: hostname,
        [MESSAGES_KEYWORD]: { maxItems: 'must be empty or absent: a route attached to a Service matches the Service\'s own names (GEP-1324); Petrel does not implement hostnames' },
      },
      rules: { type: 'array', maxItems: 16, items: rule, description: rulesDescription },
    },
  };
}

export const httpRouteSpecSchema = routeSpecSchema(httpRouteRule, 'Default one rule that matches every request.');

/** A route's metadata: name, namespace, and the creationTimestamp precedence ties look at. */
export const routeMetadata = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
    namespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    creationTimestamp: {
      type: 'string',
      pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$',
      [MESSAGES_KEYWORD]: { pattern: 'must be an RFC 3339 time such as "2026-01-02T03:04:05Z"' },
    },
  },
};

/** A whole HTTPRoute or GRPCRoute document (gateway.networking.k8s.io/v1); status is the cluster's, not validated. */
export function routeDocumentSchema(kind: 'HTTPRoute' | 'GRPCRoute', spec: object): object {
  return {
    type: 'object',
    additionalProperties: false,
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { type: 'string', enum: ['gateway.networking.k8s.io/v1'] },
      kind: { type: 'string', enum: [kind] },
      metadata: routeMetadata,
      spec,
      status: { type: 'object' },
    },
  };
}

export const httpRouteDocumentSchema = routeDocumentSchema('HTTPRoute', httpRouteSpecSchema);
