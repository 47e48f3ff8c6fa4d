// The documents Petrel validates, as complete JSON Schemas: a SidecarSnapshot and a
// ResiliencePolicy resource. api/generate-validators.ts compiles them into code.
import { resiliencePolicySpecSchema } from './policy-schema.ts';
import { snapshotSchema } from './snapshot-schema.ts';

const dnsLabel = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };

export const policyDocumentSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['petrel.dev/v1alpha1'] },
    kind: { type: 'string', enum: ['ResiliencePolicy'] },
    metadata: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
        namespace: dnsLabel,
      },
    },
    spec: resiliencePolicySpecSchema,
    status: { type: 'object' },
  },
};

/** Exported validator name -> schema. */
export const VALIDATED_SCHEMAS = {
  validateSnapshot: snapshotSchema,
  validatePolicyDocument: policyDocumentSchema,
};
