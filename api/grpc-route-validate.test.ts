// GRPCRoute validation (GEP-1016): a mesh route with every implemented feature passes; each refusal
// names its field path and says why (the spec's limits and CEL rules, or what Petrel does not implement).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reviewPolicy } from '../control/webhooks/validate-policy.ts';
import { validateGrpcRouteDocument } from './validate.ts';

const route = (spec: unknown, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'echo', namespace: 'shop', ...metadata }, spec,
});
const parent = { group: '', kind: 'Service', name: 'echo', port: 80 };
const lines = (doc: unknown) => validateGrpcRouteDocument(doc).map((i) => `${i.path}: ${i.message}`);
const rule = (r: unknown) => route({ parentRefs: [parent], rules: [r] });

describe('GRPCRoute validation', () => {
  it('accepts a mesh route with every implemented feature', () => {
    const doc = route({
      parentRefs: [parent],
      hostnames: [],
      rules: [
        {
          name: 'unary',
          matches: [
            { method: { type: 'Exact', service: 'petrel.test.Echo', method: 'Unary' }, headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }] },
            { method: { service: '.pkg.v1.Svc' } },
            { headers: [{ name: 'x-env', value: 'test' }] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'unary' }], remove: ['x-internal'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'a' }] } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, percent: 10 } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'audit', port: 80 }, fraction: { numerator: 1, denominator: 1000 } } },
          ],
          backendRefs: [{ name: 'echo-a', port: 80, weight: 90 }, { group: '', kind: 'Service', name: 'echo-b', namespace: 'shop', port: 80, weight: 10 }],
        },
        {},
      ],
    }, { creationTimestamp: '2026-01-02T03:04:05Z' });
    assert.deepEqual(lines(doc), []);
  });

  it('refuses what the schema knows, by field path', () => {
    assert.deepEqual(lines(route({ parentRefs: [{ name: 'echo' }] })), [
      'spec.parentRefs[0].group: is required: write group: "" for a Service (the default, gateway.networking.k8s.io, names a Gateway, which Petrel does not implement)',
      'spec.parentRefs[0].kind: is required: write kind: Service (the default, Gateway, is a parent Petrel does not implement)',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ method: { type: 'RegularExpression', service: 'a.B' } }] })), [
      'spec.rules[0].matches[0].method.type: RegularExpression method matches: Petrel does not implement them; use Exact',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x', value: 'y' }] }] })), [
      'spec.rules[0].matches[0].headers[0].type: RegularExpression header matches: Petrel does not implement them; use Exact',
    ]);
    assert.match(lines(rule({ matches: [{ method: { service: 'a/b' } }] })).join('\n'), /^spec\.rules\[0\]\.matches\[0\]\.method\.service: must be a gRPC service name/);
    assert.match(lines(rule({ matches: [{ method: { service: 'a.B', method: 'Un-ary' } }] })).join('\n'), /^spec\.rules\[0\]\.matches\[0\]\.method\.method: must be a gRPC method name/);
    assert.match(lines(rule({ filters: [{ type: 'URLRewrite', urlRewrite: {} }] })).join('\n'), /spec\.rules\[0\]\.filters\[0\]\.type: must be one of: "RequestHeaderModifier", "ResponseHeaderModifier", "RequestMirror"/);
    assert.deepEqual(lines(rule({ backendRefs: [{ name: 'a', port: 80, weight: -1 }] })), ['spec.rules[0].backendRefs[0].weight: must be >= 0']);
    assert.deepEqual(lines(rule({ backendRefs: [{ name: 'a', port: 80, filters: [] }] })), ['spec.rules[0].backendRefs[0].filters: Petrel does not implement backendRef filters; put the filter on the rule']);
    assert.deepEqual(lines(rule({ timeouts: { request: '1s' }, retry: {} })), ['spec.rules[0].timeouts: is not a known field', 'spec.rules[0].retry: is not a known field']);
    assert.deepEqual(lines(rule({ sessionPersistence: {} })), ['spec.rules[0].sessionPersistence: Petrel does not implement sessionPersistence']);
    assert.match(lines(route({ hostnames: ['echo.example'] })).join('\n'), /^spec\.hostnames: must be empty or absent/);
    assert.deepEqual(lines(rule({ matches: Array.from({ length: 9 }, () => ({})) })), ['spec.rules[0].matches: must NOT have more than 8 items']);
    assert.deepEqual(lines({ ...route({}), kind: 'HTTPRoute' }), ['kind: must be one of: "GRPCRoute"']);
    assert.deepEqual(lines(route({ rules: [], extra: 1 })), ['spec.extra: is not a known field']);
  });

  it('refuses what only semantics can see: service or method, method without service, repeats, names, backends', () => {
    assert.deepEqual(lines(rule({ matches: [{ method: { type: 'Exact' } }] })), [
      'spec.rules[0].matches[0].method: must give service, method or both (One or both of \'service\' or \'method\' must be specified)',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ method: { method: 'Unary' } }] })), [
      'spec.rules[0].matches[0].method.service: is required: a method match without service is not supported yet (Petrel matches a call by its path, /<service>/<method>)',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }] })), [
      'spec.rules[0].matches[0].headers[1].name: duplicates headers[0].name "x-a"',
    ]);
    assert.deepEqual(lines(rule({ filters: [
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: '1' }] } },
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'b', value: '1' }] } },
      { type: 'ResponseHeaderModifier', requestMirror: { backendRef: { name: 'm', port: 80 } } },
    ] })), [
      'spec.rules[0].filters[1].type: RequestHeaderModifier filter cannot be repeated (filters[0] is one)',
      'spec.rules[0].filters[2].requestMirror: must not be set when type is ResponseHeaderModifier (it belongs to type RequestMirror)',
      'spec.rules[0].filters[2].responseHeaderModifier: is required when type is ResponseHeaderModifier',
    ]);
    assert.deepEqual(lines(route({ parentRefs: [parent], rules: [{ name: 'a' }, { name: 'a' }] })), [
      'spec.rules[1].name: duplicates rules[0].name "a": rule names must be unique within the route',
    ]);
    assert.deepEqual(lines(rule({ backendRefs: [{ name: 'a' }, { name: 'b', namespace: 'other', port: 80 }] })), [
      'spec.rules[0].backendRefs[0].port: is required for a Service reference (Gateway API: "Must have port for Service reference")',
      'spec.rules[0].backendRefs[1].namespace: "other" is not the route\'s namespace "shop": cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet',
    ]);
    // 16 rules of 8 matches: the spec's 128 in all, accepted.
    assert.deepEqual(lines(route({ rules: Array.from({ length: 16 }, () => ({ matches: Array.from({ length: 8 }, () => ({})) })) })), []);
  });

  it('the webhook judges a GRPCRoute attached to a Service, and lets one for Gateways only through', () => {
    const review = (object: unknown) => reviewPolicy({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', operation: 'CREATE', object } }).response!;
    assert.equal(review(rule({ backendRefs: [{ name: 'a', port: 80 }] })).allowed, true);
    const refused = review(rule({ matches: [{ method: { method: 'Unary' } }] }));
    assert.equal(refused.allowed, false);
    assert.match(refused.status!.message, /^GRPCRoute rejected: spec\.rules\[0\]\.matches\[0\]\.method\.service: is required: a method match without service is not supported yet/);
    assert.equal(review(route({ parentRefs: [{ name: 'gw' }], rules: [{ matches: [{ method: { method: 'Unary' } }] }] })).allowed, true);
  });
});
