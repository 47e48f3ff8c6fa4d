// JSON Schema of a sidecar snapshot: the file `--config` loads and the document the control plane
// pushes. The policy body is the same schema a ResiliencePolicy's spec uses.
import { accessSchema } from './access-policy-schema.ts';
import { policyBodySchema } from './policy-schema.ts';
import { routingSchema, valueSourcesSchema } from './routing-schema.ts';

const name = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const address = {
  type: 'string',
  pattern: '^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
  description: 'host:port',
};

const endpoints = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['address'],
    properties: {
      address,
      name: { type: 'string' },
      identity: { type: 'string', pattern: '^spiffe://[^/]+/ns/[^/]+/sa/[^/]+$', maxLength: 1024, description: 'The SPIFFE identity its sidecar must present; present means mTLS.' },
    },
  },
};

/** A Service port (ServicePortSpec): Kubernetes allows 1-65535 and names of at most 15 characters. */
const servicePort = {
  type: 'object',
  additionalProperties: false,
  required: ['port', 'endpoints'],
  properties: {
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    name: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 },
    appProtocol: { type: 'string', minLength: 1, maxLength: 256 },
    endpoints,
    routing: routingSchema,
  },
};

export const snapshotSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'version', 'services'],
  properties: {
    apiVersion: { type: 'string', enum: ['petrel.dev/v1alpha1'] },
    kind: { type: 'string', enum: ['SidecarSnapshot'] },
    version: { type: 'integer', minimum: 0 },
    node: {
      type: 'object',
      additionalProperties: false,
      required: ['service'],
      properties: { service: name, namespace: name },
    },
    identity: {
      type: 'object',
      additionalProperties: false,
      required: ['trustDomain', 'roots'],
      description: 'The mesh trust bundle: roots that sign peer certificates (old and new during an issuer rotation).',
      properties: {
        trustDomain: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 255 },
        roots: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string', pattern: '^-----BEGIN CERTIFICATE-----', maxLength: 16384 } },
      },
    },
    inbound: { type: 'object', additionalProperties: false, properties: { policy: policyBodySchema, access: accessSchema } },
    outbound: {
      type: 'object',
      additionalProperties: false,
      properties: { passthrough: { type: 'boolean', description: 'Forward unknown hosts to their original destination. Default true.' } },
    },
    services: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'namespace', 'endpoints'],
        properties: {
          name,
          namespace: name,
          hosts: { type: 'array', items: { type: 'string', minLength: 1 } },
          endpoints,
          policy: policyBodySchema,
          policySources: valueSourcesSchema,
          routing: routingSchema,
          ports: { type: 'array', maxItems: 256, items: servicePort, description: 'Present when the Service has several ports; the first also takes calls on unlisted ports.' },
        },
      },
    },
  },
};
