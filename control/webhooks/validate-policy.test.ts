import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reviewPolicy, type AdmissionReview } from './validate-policy.ts';

const review = (object: unknown, operation = 'CREATE'): AdmissionReview => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', operation, kind: { kind: 'ResiliencePolicy' }, object },
});

const policy = (spec: unknown) => ({
  apiVersion: 'petrel.dev/v1alpha1', kind: 'ResiliencePolicy',
  metadata: { name: 'payments', namespace: 'shop', uid: 'x', resourceVersion: '1', generation: 1, creationTimestamp: '2026-11-26T00:00:00Z', managedFields: [] },
  spec,
});

describe('validating webhook (AdmissionReview v1)', () => {
  it('allows a valid policy, echoing the request uid', () => {
    const out = reviewPolicy(review(policy({ targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 3 } })));
    assert.deepEqual(out, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true } });
  });

  it('denies an invalid one with every field path in the message', () => {
    const out = reviewPolicy(review(policy({ retry: { attempts: 0, backoff: { base: '2s', max: '1s' } }, timeout: { total: 'forever' } })));
    assert.equal(out.response?.allowed, false);
    assert.equal(out.response?.status?.code, 422);
    assert.match(out.response?.status?.message ?? '', /spec\.retry\.attempts: must be >= 1/);
    assert.match(out.response?.status?.message ?? '', /spec\.timeout\.total: must be a duration/);
  });

  it('allows deletes, and refuses what is not a review', () => {
    assert.equal(reviewPolicy(review(undefined, 'DELETE')).response?.allowed, true);
    assert.throws(() => reviewPolicy({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request\.uid is missing/);
  });
});

describe('validating webhook: AccessPolicy', () => {
  const access = (spec: unknown) => ({ ...policy(spec), kind: 'AccessPolicy' });

  it('allows a valid AccessPolicy', () => {
    const out = reviewPolicy(review(access({ targetRef: { kind: 'Service', name: 'payments' }, mtls: 'strict', rules: [{ from: { serviceAccounts: ['checkout'] } }] })));
    assert.equal(out.response?.allowed, true);
  });

  it('denies an invalid one, naming the kind and every field path', () => {
    const out = reviewPolicy(review(access({ mtls: 'sometimes', rules: [{ from: {} }, { to: { paths: ['nope'] } }] })));
    assert.equal(out.response?.allowed, false);
    assert.equal(out.response?.status?.code, 422);
    const message = out.response?.status?.message ?? '';
    assert.match(message, /^AccessPolicy rejected: /);
    assert.match(message, /spec\.mtls: must be one of: "strict", "permissive"/);
    assert.match(message, /spec\.rules\[1\]\.to\.paths\[0\]: must match \^\//);
  });

  it('runs the semantic checks too', () => {
    const out = reviewPolicy(review(access({ rules: [{ from: {} }] })));
    assert.equal(out.response?.allowed, false);
    assert.match(out.response?.status?.message ?? '', /spec\.rules\[0\]\.from: must list serviceAccounts or namespaces/);
  });
});
