// targetRef on ResiliencePolicies and AccessPolicies: a Service, or an HTTPRoute/GRPCRoute (rule);
// the group must go with the kind, only a route target has a sectionName, and a route target refuses
// by name the fields that belong to a Service.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateAccessPolicyDocument, validatePolicyDocument } from './validate.ts';

const doc = (kind: string, spec: unknown) => ({ apiVersion: 'petrel.dev/v1alpha1', kind, metadata: { name: 'p', namespace: 'shop' }, spec });
const lines = (issues: { path: string; message: string }[]) => issues.map((i) => `${i.path}: ${i.message}`);
const onRule = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'orders', sectionName: 'writes' };

describe('targetRef validation', () => {
  it('accepts a rule, a whole route, a GRPCRoute and a Service', () => {
    assert.deepEqual(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: onRule, retry: { attempts: 3 }, timeout: { total: '0s', perTry: '1s' }, rateLimit: { requestsPerSecond: 5 }, fault: { abort: { status: 503, percent: 1 } } })), []);
    assert.deepEqual(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'echo' }, retry: { attempts: 2 } })), []);
    assert.deepEqual(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: { group: '', kind: 'Service', name: 'orders' }, circuitBreaker: { consecutiveFailures: 2 } })), []);
    assert.deepEqual(validateAccessPolicyDocument(doc('AccessPolicy', { targetRef: onRule, rules: [{ from: { serviceAccounts: ['ops'] } }] })), []);
  });

  it('refuses what a route rule cannot carry, by field, saying where it belongs', () => {
    assert.deepEqual(lines(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: onRule, circuitBreaker: { consecutiveFailures: 2 }, loadBalancer: { policy: 'round-robin' }, concurrency: { maxRequests: 5 }, routes: [{ name: 'x' }] }))), [
      'spec.circuitBreaker: cannot be set by a policy on a route (HTTPRoute): breakers belong to the backend Service\'s endpoints: target the backend Service (kind: Service)',
      'spec.concurrency: cannot be set by a policy on a route (HTTPRoute): connection and request limits belong to the backend Service: target the backend Service (kind: Service)',
      'spec.loadBalancer: cannot be set by a policy on a route (HTTPRoute): the balancer belongs to the backend Service: target the backend Service (kind: Service)',
      'spec.routes: cannot be set by a policy on a route (HTTPRoute): the routes shorthand has no meaning on an HTTPRoute: its rules are the routes (target one with sectionName)',
    ]);
    assert.deepEqual(lines(validateAccessPolicyDocument(doc('AccessPolicy', { targetRef: onRule, mtls: 'strict' }))), [
      'spec.mtls: cannot be set by a policy on a route (HTTPRoute): mTLS applies to a whole Service (target the Service)',
      'spec.rules: is required on a policy on a route (HTTPRoute): it lists who may make the calls the route sends (an empty list allows nobody)',
    ]);
  });

  it('the group goes with the kind; only a route has sections', () => {
    assert.deepEqual(lines(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: { kind: 'HTTPRoute', name: 'orders' }, retry: { attempts: 2 } }))),
      ['spec.targetRef.group: must be "gateway.networking.k8s.io" for kind HTTPRoute']);
    assert.deepEqual(lines(validatePolicyDocument(doc('ResiliencePolicy', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'Service', name: 'orders', sectionName: 'http' }, retry: { attempts: 2 } }))), [
      'spec.targetRef.group: must be "" (the core group) for kind Service, not "gateway.networking.k8s.io"',
      'spec.targetRef.sectionName: only an HTTPRoute or GRPCRoute target has a sectionName (the name of one of its rules)',
    ]);
    assert.deepEqual(lines(validateAccessPolicyDocument(doc('AccessPolicy', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'orders', sectionName: 'Bad_Name' }, rules: [] }))),
      ['spec.targetRef.sectionName: must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$']);
  });
});
