// Scopes from AccessPolicies on route rules, at the callee: a call inside a scope must pass one of its
// rules; inside is judged generously (dot segments, repeated or trailing slashes, a header or query
// parameter given twice), so that no spelling of a request reaches the app around the policy.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessSpec } from '../../api/types.ts';
import { parseSpiffe } from '../identity/spiffe.ts';
import { ALLOWED, AccessControl, NO_RULE_MATCHED, SCOPE_DENIED } from './access-control.ts';

const ops = parseSpiffe('spiffe://cluster.local/ns/shop/sa/ops')!;
const web = parseSpiffe('spiffe://cluster.local/ns/shop/sa/web')!;
const spec: AccessSpec = {
  mtls: 'permissive',
  scoped: [
    { source: 'admin', matches: [{ path: { type: 'PathPrefix', value: '/internal' } }], rules: [{ from: { serviceAccounts: ['shop/ops'] } }] },
    { source: 'beta', matches: [{ path: { type: 'Exact', value: '/pay' }, method: 'POST', headers: [{ name: 'x-beta', value: '1' }], queryParams: [{ name: 'mode', value: 'test' }] }], rules: [] },
  ],
};

describe('AccessControl scopes (AccessPolicy on a route rule)', () => {
  const access = new AccessControl(spec, 'shop');

  it('is something to enforce, even permissive and without rules', () => {
    assert.equal(access.allowsAll, false);
  });

  it('inside a scope: only its rules\' callers; outside: anyone', () => {
    assert.equal(access.check(true, ops, 'GET', '/internal/keys'), ALLOWED);
    assert.equal(access.check(true, web, 'GET', '/internal/keys'), SCOPE_DENIED);
    assert.equal(access.deniedBy, 'admin');
    assert.equal(access.check(false, undefined, 'GET', '/internal'), SCOPE_DENIED, 'plaintext has no identity');
    assert.equal(access.check(true, web, 'GET', '/internals'), ALLOWED, 'by path element');
    assert.equal(access.check(true, web, 'GET', '/public/x'), ALLOWED);
  });

  it('every spelling of the guarded path is inside', () => {
    for (const path of ['/public/../internal/keys', '//internal/keys', '/internal//keys', '/x/%2e%2e/internal', '/internal/', '/a%2finternal']) {
      assert.equal(access.check(true, web, 'GET', path), SCOPE_DENIED, path);
    }
  });

  it('headers and query: inside when any of their values matches; an Exact path ignores a trailing slash', () => {
    const inside = (path: string, headers: Record<string, string | string[]>) => access.check(true, ops, 'POST', path, headers) === SCOPE_DENIED;
    assert.equal(inside('/pay?mode=test', { 'x-beta': '1' }), true);
    assert.equal(inside('/pay/?mode=live&mode=test', { 'x-beta': '0, 1' }), true);
    assert.equal(inside('/pay?mode=test', { 'x-beta': ['0', '1'] }), true);
    assert.equal(inside('/pay?mode=live', { 'x-beta': '1' }), false);
    assert.equal(inside('/pay?mode=test', {}), false);
    assert.equal(access.check(true, ops, 'GET', '/pay?mode=test', { 'x-beta': '1' }), ALLOWED, 'another method');
  });

  it('adds to the service\'s own rules, never replaces them', () => {
    const both = new AccessControl({ ...spec, rules: [{ from: { serviceAccounts: ['web'] } }] }, 'shop');
    assert.equal(both.check(true, ops, 'GET', '/public'), NO_RULE_MATCHED);
    assert.equal(both.check(true, web, 'GET', '/internal'), SCOPE_DENIED);
    assert.equal(both.check(true, web, 'GET', '/public'), ALLOWED);
  });

  it('an opaque TCP connection is inside every scope', () => {
    assert.equal(access.checkConnection(true, ops), SCOPE_DENIED, 'the beta scope allows nobody');
    assert.equal(new AccessControl({ mtls: 'permissive', scoped: [spec.scoped![0]!] }, 'shop').checkConnection(true, ops), ALLOWED);
  });
});
