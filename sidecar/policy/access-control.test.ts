// The AccessPolicy matcher: who may call, on which paths and methods, and what mtls: strict refuses.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessSpec } from '../../api/types.ts';
import { parseSpiffe, type PeerIdentity } from '../identity/spiffe.ts';
import { AccessControl, ALLOWED, isAmbiguousPath, NO_RULE_MATCHED, PLAINTEXT_REFUSED } from './access-control.ts';

const id = (ns: string, sa: string): PeerIdentity => parseSpiffe(`spiffe://cluster.local/ns/${ns}/sa/${sa}`)!;
const checkout = id('shop', 'checkout');
const invoicer = id('billing', 'invoicer');
const ops = id('ops', 'dashboard');
const stranger = id('other', 'checkout');

/** The protected service lives in namespace "shop". */
const control = (spec: AccessSpec) => new AccessControl(spec, 'shop');

describe('AccessControl', () => {
  it('absent rules allow every caller, plaintext included; permissive and no rules enforce nothing', () => {
    const ac = control({ mtls: 'permissive' });
    assert.equal(ac.allowsAll, true);
    assert.equal(ac.check(false, undefined, 'DELETE', '/admin'), ALLOWED);
    assert.equal(ac.check(true, stranger, 'GET', '/'), ALLOWED);
  });

  it('empty rules deny every caller', () => {
    const ac = control({ mtls: 'permissive', rules: [] });
    assert.equal(ac.allowsAll, false);
    assert.equal(ac.check(false, undefined, 'GET', '/'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, checkout, 'GET', '/'), NO_RULE_MATCHED);
  });

  it('mtls: strict refuses plaintext before any rule, and allows mTLS callers when there are no rules', () => {
    const ac = control({ mtls: 'strict' });
    assert.equal(ac.allowsAll, false);
    assert.equal(ac.check(false, undefined, 'GET', '/'), PLAINTEXT_REFUSED);
    assert.equal(ac.check(true, checkout, 'GET', '/'), ALLOWED);
    assert.equal(control({ mtls: 'strict', rules: [{}] }).check(false, undefined, 'GET', '/'), PLAINTEXT_REFUSED);
  });

  it('a bare service account name means the protected service\'s namespace; "ns/name" another', () => {
    const ac = control({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout', 'billing/invoicer'] } }] });
    assert.equal(ac.check(true, checkout, 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, invoicer, 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, stranger, 'GET', '/'), NO_RULE_MATCHED, 'checkout of another namespace');
    assert.equal(ac.check(true, id('billing', 'checkout'), 'GET', '/'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, id('shop', 'invoicer'), 'GET', '/'), NO_RULE_MATCHED);
  });

  it('namespaces allow any service account of them (OR with serviceAccounts)', () => {
    const ac = control({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout'], namespaces: ['ops'] } }] });
    assert.equal(ac.check(true, ops, 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, id('ops', 'anything'), 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, checkout, 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, invoicer, 'GET', '/'), NO_RULE_MATCHED);
  });

  it('a plaintext caller has no identity: only rules without from can allow it', () => {
    const ac = control({ mtls: 'permissive', rules: [{ from: { namespaces: ['shop'] } }, { to: { paths: ['/public/'] } }] });
    assert.equal(ac.check(false, undefined, 'GET', '/private'), NO_RULE_MATCHED);
    assert.equal(ac.check(false, undefined, 'GET', '/public/x'), ALLOWED);
    // An identity without TLS (it cannot happen from the listener) is not trusted either.
    assert.equal(ac.check(false, checkout, 'GET', '/private'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, checkout, 'GET', '/private'), ALLOWED);
  });

  it('paths are prefixes of the path without its query; methods are exact', () => {
    const ac = control({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout'] }, to: { paths: ['/v1/', '/health'], methods: ['GET', 'POST'] } }] });
    assert.equal(ac.check(true, checkout, 'GET', '/v1/orders'), ALLOWED);
    assert.equal(ac.check(true, checkout, 'POST', '/v1/orders?x=1'), ALLOWED);
    assert.equal(ac.check(true, checkout, 'GET', '/healthz'), ALLOWED, 'a prefix, not a segment match');
    assert.equal(ac.check(true, checkout, 'DELETE', '/v1/orders'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, checkout, 'GET', '/v2/orders'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, checkout, 'GET', '/v1'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, invoicer, 'GET', '/v1/orders'), NO_RULE_MATCHED, 'to matches but from does not');
  });

  it('the query is not part of the path a prefix judges', () => {
    const ac = control({ mtls: 'permissive', rules: [{ to: { paths: ['/a?admin'] } }] });
    assert.equal(ac.check(false, undefined, 'GET', '/a?admin=1'), NO_RULE_MATCHED);
  });

  it('a path an app could normalize differently matches no prefix (fail closed)', () => {
    const ac = control({ mtls: 'permissive', rules: [{ to: { paths: ['/v1/'] } }] });
    for (const path of ['/v1/../admin', '/v1/./x', '/v1/%2e%2e/admin', '/v1/..%2Fadmin', '/v1\\..\\admin', '/v1/%5c', '/v1/..']) {
      assert.equal(ac.check(false, undefined, 'GET', path), NO_RULE_MATCHED, path);
    }
    assert.equal(ac.check(false, undefined, 'GET', '/v1/a.b/..c/x?y=/../'), ALLOWED, 'dots inside names and in the query are fine');
    // A rule without paths still allows it.
    assert.equal(control({ mtls: 'permissive', rules: [{ to: { methods: ['GET'] } }] }).check(false, undefined, 'GET', '/v1/../admin'), ALLOWED);
  });

  it('isAmbiguousPath', () => {
    const amb = (p: string) => isAmbiguousPath(p, p.indexOf('?') < 0 ? p.length : p.indexOf('?'));
    assert.deepEqual(['/', '/a/b', '/a.b', '/.well-known/x', '/a/..b', '/%20'].map(amb), [false, false, false, false, false, false]);
    assert.deepEqual(['/./', '/..', '/a/../b', '/a/.', '/%2f', '/%2E', '/a\\b', '/.?x'].map(amb), [true, true, true, true, true, true, true, true]);
  });

  it('any matching rule allows: rules are a union', () => {
    const ac = control({ mtls: 'permissive', rules: [
      { from: { serviceAccounts: ['checkout'] }, to: { methods: ['GET'] } },
      { from: { namespaces: ['billing'] }, to: { methods: ['POST'] } },
    ] });
    assert.equal(ac.check(true, checkout, 'GET', '/'), ALLOWED);
    assert.equal(ac.check(true, checkout, 'POST', '/'), NO_RULE_MATCHED);
    assert.equal(ac.check(true, invoicer, 'POST', '/'), ALLOWED);
  });
});
