// The one JSON Schema for an AccessPolicy's rules, as a resource spec and as a snapshot's
// `inbound.access`. Same subset rules as policy-schema.ts (draft-07 and structural OpenAPI v3):
// no uniqueItems (Kubernetes refuses it in a structural schema); api/validate.ts checks duplicates.
import { HTTP_METHODS } from './policy-schema.ts';
import { routeMatchSchema } from './routing-schema.ts';
import { targetRefSchema } from './target-ref-schema.ts';

const identityName = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 };
const namespaceName = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };

export const MTLS_MODES = ['strict', 'permissive'] as const;

export const accessRuleSchema = {
  type: 'object',
  additionalProperties: false,
  description: 'Callers this rule allows, optionally only for some paths and methods. A missing from or to matches anything.',
  properties: {
    from: {
      type: 'object',
      additionalProperties: false,
      description: 'The caller: one of these service accounts or any service account of one of these namespaces.',
      properties: {
        serviceAccounts: {
          type: 'array', minItems: 1, maxItems: 256,
          description: 'Service accounts: "name" (the protected service\'s namespace) or "namespace/name".',
          items: { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 317 },
        },
        namespaces: { type: 'array', minItems: 1, maxItems: 256, items: namespaceName, description: 'Any service account of these namespaces.' },
      },
    },
    to: {
      type: 'object',
      additionalProperties: false,
      description: 'What the caller may call: one of these path prefixes (any when omitted) with one of these methods (any when omitted).',
      properties: {
        paths: {
          type: 'array', minItems: 1, maxItems: 256, description: 'Path prefixes, each starting with "/"; the query is not part of the path.',
          items: { type: 'string', pattern: '^/', maxLength: 1024 },
        },
        methods: { type: 'array', minItems: 1, maxItems: 16, items: { type: 'string', enum: [...HTTP_METHODS] } },
      },
    },
  },
};

/** What a snapshot carries for the sidecar that serves the protected service. */
export const accessSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['mtls'],
  properties: {
    mtls: { type: 'string', enum: [...MTLS_MODES], description: 'strict: plaintext callers are refused. permissive (default): served, as peer "unknown".' },
    rules: {
      type: 'array', maxItems: 1024, items: accessRuleSchema,
      description: 'Present (even empty): deny unless one rule matches. Absent: allow every caller.',
    },
    scoped: {
      type: 'array', maxItems: 256,
      description: 'AccessPolicies that target a route or route rule: a call matching one of matches must also pass one of rules.',
      items: {
        type: 'object', additionalProperties: false, required: ['source', 'matches', 'rules'],
        properties: {
          source: { type: 'string', minLength: 1, maxLength: 1024 },
          matches: { type: 'array', minItems: 1, maxItems: 64, items: routeMatchSchema },
          rules: { type: 'array', maxItems: 1024, items: accessRuleSchema },
        },
      },
    },
  },
};

/** The spec of an AccessPolicy resource (DESIGN.md, "Identity and mTLS"). */
export const accessPolicySpecSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targetRef: targetRefSchema(
      'What is protected: a Service, or the calls an HTTPRoute or GRPCRoute (or one of its rules, by sectionName) routes, checked by the sidecars of its backends; omit it for the namespace default, which applies to every service of the namespace.',
      identityName,
    ),
    mtls: {
      type: 'string', enum: [...MTLS_MODES],
      description: 'strict: plaintext callers are refused (403 RBAC). permissive (default): they are served, as peer "unknown". Strict wins when several policies apply.',
    },
    rules: {
      type: 'array', maxItems: 1024, items: accessRuleSchema,
      description: 'Present (even empty): deny unless one rule matches. Absent: this policy allows every caller. The rules of every policy that applies to a service are unioned.',
    },
  },
};

export { identityName };
