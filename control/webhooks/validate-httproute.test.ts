// The validating webhook on HTTPRoutes: a route attached to a Service is judged by Petrel's rules;
// a route attached only to Gateways belongs to another controller and is allowed as it is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reviewPolicy, type AdmissionReview } from './validate-policy.ts';

const review = (object: unknown): AdmissionReview => ({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview',
  request: { uid: 'u-1', operation: 'CREATE', kind: { kind: 'HTTPRoute' }, object },
});
const route = (spec: unknown) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute',
  metadata: { name: 'payments', namespace: 'shop', uid: 'x', resourceVersion: '1', generation: 1, creationTimestamp: '2026-11-26T00:00:00Z', managedFields: [] },
  spec,
});
const parentRefs = [{ group: '', kind: 'Service', name: 'payments', port: 80 }];

describe('validating webhook: HTTPRoute', () => {
  it('allows a valid mesh route', () => {
    const out = reviewPolicy(review(route({ parentRefs, rules: [{ backendRefs: [{ name: 'payments-v2', port: 80, weight: 10 }] }] })));
    assert.deepEqual(out.response, { uid: 'u-1', allowed: true });
  });

  it('denies an invalid one, naming the kind and each field path', () => {
    const out = reviewPolicy(review(route({ parentRefs, rules: [{ backendRefs: [{ name: 'a', port: 80, weight: -1 }], sessionPersistence: {} }] })));
    assert.equal(out.response?.allowed, false);
    assert.equal(out.response?.status?.code, 422);
    assert.equal(out.response?.status?.message, 'HTTPRoute rejected: spec.rules[0].backendRefs[0].weight: must be >= 0; spec.rules[0].sessionPersistence: Petrel does not implement sessionPersistence');
  });

  it('leaves a route attached only to Gateways to its controller', () => {
    const out = reviewPolicy(review(route({ parentRefs: [{ name: 'edge' }], hostnames: ['shop.example'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/.*' } }] }] })));
    assert.equal(out.response?.allowed, true);
  });
});
