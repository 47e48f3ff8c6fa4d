// The one JSON Schema for a ResiliencePolicy's spec. It is the single source for the CRD's
// openAPIV3Schema, `petrel validate`, the validating webhook and the sidecar's check of a pushed
// snapshot. Keep it to the subset that is both JSON Schema draft-07 and a structural OpenAPI v3
// schema (no $ref, no oneOf at the top of a property), so the CRD can be generated from it.
import { DURATION_PATTERN, formatDuration } from './duration.ts';
import { targetRefSchema } from './target-ref-schema.ts';

/**
 * The schema keyword holding a duration field's largest value, such as "24h". A pattern cannot
 * bound a number, so api/duration-limits.ts enforces it in the one validation path that
 * `petrel validate`, the webhook and the sidecar share; the CRD drops the keyword and keeps the
 * limit in the description. Every limit stays far below MAX_TIMER_MS (Node fires longer timers at once).
 */
export const MAX_DURATION_KEYWORD = 'x-petrel-max-duration';

const HOUR_MS = 3_600_000;
/** Timeouts, open times: a day is already far beyond any sensible value. */
export const MAX_POLICY_DURATION_MS = 24 * HOUR_MS;
/** Retry backoff, failure-rate windows and fault delays: an hour. */
export const MAX_SHORT_DURATION_MS = HOUR_MS;

const duration = (description: string, maxMs = MAX_POLICY_DURATION_MS) => ({
  type: 'string',
  pattern: DURATION_PATTERN,
  [MAX_DURATION_KEYWORD]: formatDuration(maxMs),
  description: `${description} At most ${formatDuration(maxMs)}.`,
});
const percent = (description: string) => ({ type: 'number', minimum: 0, maximum: 100, description });

export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-4xx'] as const;
export const BACKOFF_STRATEGIES = ['fixed', 'exponential', 'exponential-jitter'] as const;
export const BALANCER_POLICIES = ['round-robin', 'least-request', 'ewma'] as const;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT'] as const;

export const timeoutSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Timeouts. Built-in defaults: connect 1s, no per-try and no total timeout.',
  properties: {
    connect: duration('Time to establish a TCP connection to an endpoint. Default 1s.'),
    perTry: duration('Time for one attempt, from dispatch to the end of the response headers.'),
    total: duration('Time for the whole request, all attempts and backoff included.'),
  },
};

export const retrySchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Retries. Built-in default: retry only a request that was never sent (connect failure).',
  properties: {
    attempts: { type: 'integer', minimum: 1, maximum: 10, description: 'Total tries, the first included. Default 1 (plus never-sent retries).' },
    on: {
      type: 'array',
      description: 'Conditions that allow a retry: connect-failure, reset, gateway-error (502/503/504), 5xx, retriable-4xx (409), a status code such as "429", or a gRPC status of the response: cancelled, deadline-exceeded, internal, resource-exhausted, unavailable.',
      items: { type: 'string', pattern: '^(connect-failure|reset|gateway-error|5xx|retriable-4xx|[1-5][0-9][0-9]|cancelled|deadline-exceeded|internal|resource-exhausted|unavailable)$' },
    },
    backoff: {
      type: 'object',
      additionalProperties: false,
      properties: {
        strategy: { type: 'string', enum: [...BACKOFF_STRATEGIES], description: 'Default exponential-jitter.' },
        base: duration('First delay. Default 25ms.', MAX_SHORT_DURATION_MS),
        max: duration('Largest delay. Default 250ms.', MAX_SHORT_DURATION_MS),
      },
    },
    budget: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ratio: { type: 'number', minimum: 0, maximum: 1, description: 'Retries may add at most this share of the request rate. Default 0.2.' },
        minPerSecond: { type: 'integer', minimum: 0, description: 'Retries always allowed per second, whatever the ratio. Default 10.' },
      },
    },
    nonIdempotent: { type: 'boolean', description: 'Retry POST and PATCH after they were sent. Default false.' },
  },
};

export const circuitBreakerSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'A breaker per endpoint.',
  properties: {
    consecutiveFailures: { type: 'integer', minimum: 1, description: 'Trip after this many failures in a row. Default 5.' },
    failureRate: {
      type: 'object',
      additionalProperties: false,
      properties: {
        threshold: { type: 'number', minimum: 0, maximum: 1, description: 'Trip when the failure share reaches this. Default 0.5.' },
        window: duration('Sliding window the rate is measured over. Default 10s.', MAX_SHORT_DURATION_MS),
        minRequests: { type: 'integer', minimum: 1, description: 'Requests in the window before the rate counts. Default 20.' },
      },
    },
    openFor: duration('How long a tripped endpoint stays out. Default 30s.'),
    maxOpenFor: duration('Cap on the open time as repeated trips grow it. Default 5m.'),
    halfOpenProbes: { type: 'integer', minimum: 1, description: 'Requests admitted while half-open. Default 1.' },
  },
};

export const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['requestsPerSecond'],
  properties: {
    requestsPerSecond: { type: 'number', exclusiveMinimum: 0, description: 'Sustained rate of the token bucket.' },
    burst: { type: 'integer', minimum: 1, description: 'Bucket size. Default: requestsPerSecond rounded up.' },
  },
};

export const concurrencySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxRequests: { type: 'integer', minimum: 1, description: 'Requests in flight to the service. Default 1024.' },
    maxPending: { type: 'integer', minimum: 0, description: 'Requests queued beyond maxRequests. Default 1024.' },
  },
};

export const loadBalancerSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    policy: { type: 'string', enum: [...BALANCER_POLICIES], description: 'Default ewma.' },
    panicThreshold: {
      type: 'integer', minimum: 0, maximum: 100,
      description: 'When fewer than this percent of endpoints are available (breakers open), balance over all of them, '
        + 'as Envoy does: a blip that opened every breaker costs the blip, not openFor. 0 fails fast (503 UO) instead. Default 50.',
    },
  },
};

export const faultSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    delay: {
      type: 'object', additionalProperties: false, required: ['duration', 'percent'],
      properties: { duration: duration('Delay added before the request is sent.', MAX_SHORT_DURATION_MS), percent: percent('Share of requests delayed.') },
    },
    abort: {
      type: 'object', additionalProperties: false, required: ['status', 'percent'],
      properties: {
        status: { type: 'integer', minimum: 200, maximum: 599, description: 'Status answered instead of sending.' },
        percent: percent('Share of requests aborted.'),
      },
    },
  },
};

export const routeSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'The route label in metrics.' },
    match: {
      type: 'object',
      additionalProperties: false,
      properties: {
        pathPrefix: { type: 'string', pattern: '^/' },
        path: { type: 'string', pattern: '^/' },
        methods: { type: 'array', items: { type: 'string', enum: [...HTTP_METHODS] } },
      },
    },
    timeout: timeoutSchema,
    retry: retrySchema,
    rateLimit: rateLimitSchema,
    fault: faultSchema,
  },
};

/** The policy body shared by a ResiliencePolicy's spec and a snapshot's service entry. */
export const policyProperties = {
  timeout: timeoutSchema,
  retry: retrySchema,
  circuitBreaker: circuitBreakerSchema,
  rateLimit: rateLimitSchema,
  concurrency: concurrencySchema,
  loadBalancer: loadBalancerSchema,
  fault: faultSchema,
  routes: { type: 'array', items: routeSchema, description: 'Per-route overrides; the first match wins.' },
};

export const policyBodySchema = { type: 'object', additionalProperties: false, properties: policyProperties };

export const resiliencePolicySpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targetRef: targetRefSchema(
      'Whom the policy protects: a Service, an HTTPRoute or GRPCRoute, or one rule of a route (sectionName); omit it for the namespace default. Precedence: rule > route > Service > namespace default > built-in.',
      { type: 'string', minLength: 1, maxLength: 253 },
    ),
    ...policyProperties,
  },
};
