// The ResiliencePolicy and AccessPolicy CustomResourceDefinitions, generated from the one schema of
// each (api/policy-schema.ts, api/access-policy-schema.ts).
// Kubernetes wants a structural schema: `additionalProperties: false` cannot sit beside
// `properties`, so it is dropped here; the API server prunes unknown fields, and the validating
// webhook (same schema, unpruned) rejects them with a message. Duration limits are not OpenAPI
// either: the CRD keeps them in the descriptions and the webhook enforces them.
import { stringify } from 'yaml';
import { accessPolicySpecSchema } from './access-policy-schema.ts';
import { MAX_DURATION_KEYWORD, resiliencePolicySpecSchema } from './policy-schema.ts';

type Schema = Record<string, unknown>;

/** JSON Schema -> structural OpenAPI v3 schema. */
export function toStructural(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema as Schema)) {
    if (key === 'additionalProperties' && value === false) continue;
    if (key === MAX_DURATION_KEYWORD) continue;
    if (key === 'properties') {
      out.properties = Object.fromEntries(Object.entries(value as Schema).map(([k, v]) => [k, toStructural(v)]));
      continue;
    }
    out[key] = toStructural(value);
  }
  return out;
}

interface CrdInput {
  kind: string;
  plural: string;
  shortName: string;
  description: string;
  spec: unknown;
  /** Printer columns between Target and Accepted. */
  columns?: Schema[];
}

function policyCrd(c: CrdInput): Schema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.petrel.dev`, labels: { 'app.kubernetes.io/part-of': 'petrel' } },
    spec: {
      group: 'petrel.dev',
      scope: 'Namespaced',
      names: { kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.kind.toLowerCase(), shortNames: [c.shortName] },
      versions: [{
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: [
          { name: 'Target', type: 'string', jsonPath: '.spec.targetRef.name', description: 'The service protected; empty for the namespace default.' },
          ...(c.columns ?? []),
          { name: 'Accepted', type: 'string', jsonPath: '.status.conditions[?(@.type=="Accepted")].status' },
          { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
        ],
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: c.description,
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: toStructural(c.spec),
              status: {
                type: 'object',
                properties: {
                  observedGeneration: { type: 'integer' },
                  conditions: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['type', 'status'],
                      properties: {
                        type: { type: 'string' },
                        status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
                        reason: { type: 'string' },
                        message: { type: 'string' },
                        lastTransitionTime: { type: 'string', format: 'date-time' },
                        observedGeneration: { type: 'integer' },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      }],
    },
  };
}

export function resiliencePolicyCrd(): Schema {
  return policyCrd({
    kind: 'ResiliencePolicy', plural: 'resiliencepolicies', shortName: 'rp', spec: resiliencePolicySpecSchema,
    description: 'Resilience policy for a service (targetRef) or, without targetRef, the namespace default.',
  });
}

export function accessPolicyCrd(): Schema {
  return policyCrd({
    kind: 'AccessPolicy', plural: 'accesspolicies', shortName: 'ap', spec: accessPolicySpecSchema,
    description: 'Who may call a service (targetRef) or, without targetRef, every service of the namespace; and whether plaintext callers are refused.',
    columns: [
      { name: 'mTLS', type: 'string', jsonPath: '.spec.mtls', description: 'strict or permissive (empty: permissive).' },
    ],
  });
}

export function crdYaml(): string {
  return `# Generated from api/policy-schema.ts by \`npm run generate\`. Do not edit.\n${stringify(resiliencePolicyCrd(), { lineWidth: 0 })}`;
}

export function accessCrdYaml(): string {
  return `# Generated from api/access-policy-schema.ts by \`npm run generate\`. Do not edit.\n${stringify(accessPolicyCrd(), { lineWidth: 0 })}`;
}
