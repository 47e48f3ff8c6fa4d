// The documents Petrel validates, as complete JSON Schemas: a SidecarSnapshot, a ResiliencePolicy
// an AccessPolicy resource, an HTTPRoute and a GRPCRoute (gateway.networking.k8s.io/v1). api/generate-validators.ts compiles them into code.
import { accessPolicySpecSchema } from './access-policy-schema.ts';
import { grpcRouteDocumentSchema } from './grpc-route-schema.ts';
import { httpRouteDocumentSchema } from './http-route-schema.ts';
import { resiliencePolicySpecSchema } from './policy-schema.ts';
import { snapshotSchema } from './snapshot-schema.ts';

const dnsLabel = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };

const metadataSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 },
    namespace: dnsLabel,
  },
};

/** A policy resource of `kind` whose spec is `spec`. */
const resourceSchema = (kind: string, spec: unknown) => ({
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', enum: ['petrel.dev/v1alpha1'] },
    kind: { type: 'string', enum: [kind] },
    metadata: metadataSchema,
    spec,
    status: { type: 'object' },
  },
});

export const policyDocumentSchema = resourceSchema('ResiliencePolicy', resiliencePolicySpecSchema);
export const accessPolicyDocumentSchema = resourceSchema('AccessPolicy', accessPolicySpecSchema);

/** Exported validator name -> schema. */
export const VALIDATED_SCHEMAS = {
  validateSnapshot: snapshotSchema,
  validatePolicyDocument: policyDocumentSchema,
  validateAccessPolicyDocument: accessPolicyDocumentSchema,
  validateHttpRouteDocument: httpRouteDocumentSchema,
  validateGrpcRouteDocument: grpcRouteDocumentSchema,
};
