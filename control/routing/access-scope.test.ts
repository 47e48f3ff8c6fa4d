// An AccessPolicy on a route rule becomes a scope on each service the rule sends to, described as the
// callee sees the request: URLRewrite applied, header conditions the rule itself changes dropped
// (the scope only widens), mirrors guarded too.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessPolicySpec, HttpRouteSpec } from '../../api/types.ts';
import { AccessIndex } from '../access-index.ts';
import type { StoredPolicy } from '../policy.ts';

const access = (name: string, spec: AccessPolicySpec): StoredPolicy => ({ kind: 'AccessPolicy', key: `shop/${name}`, namespace: 'shop', name, origin: 'kubernetes', spec });
const route = (name: string, spec: HttpRouteSpec): StoredPolicy => ({ kind: 'HTTPRoute', key: `shop/${name}`, namespace: 'shop', name, origin: 'kubernetes', spec });
const target = (sectionName?: string) => ({ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' as const, name: 'orders', ...(sectionName ? { sectionName } : {}) });

const orders = route('orders', {
  parentRefs: [{ group: '', kind: 'Service', name: 'orders' }],
  rules: [
    {
      name: 'admin',
      matches: [{ path: { type: 'PathPrefix', value: '/admin' }, headers: [{ name: 'x-tenant', value: 'a' }, { name: 'x-debug', value: '1' }] }],
      filters: [
        { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/internal' } } },
        { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['x-debug'] } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'audit' } } },
      ],
      backendRefs: [{ name: 'orders' }, { name: 'orders-v2' }],
    },
    { name: 'reads', matches: [{ path: { type: 'Exact', value: '/read' }, method: 'GET' }], backendRefs: [{ name: 'orders' }] },
    { name: 'moved', filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: 'elsewhere' } }] },
  ],
});

describe('AccessPolicy on a route rule', () => {
  it('guards the rule\'s backends and mirror with its matches as they arrive there', () => {
    const index = new AccessIndex([orders, access('admins', { targetRef: target('admin'), rules: [{ from: { serviceAccounts: ['ops'] } }] })]);
    const scope = {
      source: 'AccessPolicy shop/admins -> HTTPRoute shop/orders rule admin',
      matches: [{ path: { type: 'PathPrefix', value: '/internal' }, headers: [{ name: 'x-tenant', value: 'a' }] }],
      rules: [{ from: { serviceAccounts: ['shop/ops'] } }],
    };
    for (const service of ['orders', 'orders-v2', 'audit']) assert.deepEqual(index.accessFor(service, 'shop'), { mtls: 'permissive', scoped: [scope] }, service);
    assert.equal(index.accessFor('elsewhere', 'shop'), undefined);
    assert.deepEqual(index.warnings, ['AccessPolicy shop/admins -> HTTPRoute shop/orders rule admin: the rule\'s RequestHeaderModifier changes x-debug, which the callee cannot match on: the policy guards those calls whatever the header was']);
  });

  it('sits on top of the service\'s own AccessPolicy and keeps its mtls', () => {
    const index = new AccessIndex([orders, access('orders', { targetRef: { kind: 'Service', name: 'orders' }, mtls: 'strict' }), access('readers', { targetRef: target('reads'), rules: [] })]);
    assert.deepEqual(index.accessFor('orders', 'shop'), {
      mtls: 'strict',
      scoped: [{ source: 'AccessPolicy shop/readers -> HTTPRoute shop/orders rule reads', matches: [{ path: { type: 'Exact', value: '/read' }, method: 'GET' }], rules: [] }],
    });
  });

  it('a whole route: every rule that calls a service; a redirect rule has nothing to guard', () => {
    const index = new AccessIndex([orders, access('all', { targetRef: target(), rules: [{ from: { namespaces: ['shop'] } }] })]);
    assert.equal(index.accessFor('orders', 'shop')?.scoped?.length, 2);
    assert.match(index.warnings.at(-1)!, /rule moved: the rule sends no call to a mesh Service/);
  });

  it('a missing rule or route guards nothing and says so', () => {
    const index = new AccessIndex([orders, access('typo', { targetRef: target('admn'), rules: [] }), access('gone', { targetRef: { ...target(), name: 'gone' }, rules: [] })]);
    assert.equal(index.accessFor('orders', 'shop'), undefined);
    assert.deepEqual(index.warnings, [
      'AccessPolicy shop/gone: targets HTTPRoute shop/gone, which does not exist; it guards nothing until it does',
      'AccessPolicy shop/typo: HTTPRoute shop/orders has no rule named "admn" (sectionName names a rule\'s name); it guards nothing',
    ]);
  });
});
