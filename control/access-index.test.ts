// AccessPolicies merged per protected service: rules unioned across the namespace defaults and the
// service's own, strict when any says so, nothing for a service no AccessPolicy applies to.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccessPolicySpec } from '../api/types.ts';
import { AccessIndex } from './access-index.ts';
import type { StoredPolicy } from './policy.ts';

const access = (namespace: string, name: string, spec: AccessPolicySpec): StoredPolicy =>
  ({ kind: 'AccessPolicy', key: `${namespace}/${name}`, namespace, name, origin: 'test', spec });

describe('AccessIndex', () => {
  const index = new AccessIndex([
    access('shop', 'payments', { targetRef: { kind: 'Service', name: 'payments' }, rules: [{ from: { serviceAccounts: ['checkout', 'billing/invoicer'] }, to: { paths: ['/v1/'] } }] }),
    access('shop', 'default-strict', { mtls: 'strict' }),
    access('shop', 'default-ops', { rules: [{ from: { namespaces: ['ops'] } }] }),
    access('other', 'cart', { targetRef: { kind: 'Service', name: 'cart' }, mtls: 'permissive' }),
    { kind: 'ResiliencePolicy', key: 'shop/payments', namespace: 'shop', name: 'payments', origin: 'test', spec: { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 3 } } },
  ]);

  it('unions the rules of the namespace defaults and the service\'s own; strict wins; bare names qualified', () => {
    assert.deepEqual(index.accessFor('payments', 'shop'), {
      mtls: 'strict',
      rules: [
        { from: { namespaces: ['ops'] } },
        { from: { serviceAccounts: ['shop/checkout', 'billing/invoicer'] }, to: { paths: ['/v1/'] } },
      ],
    });
  });

  it('the namespace defaults alone apply to every other service of the namespace', () => {
    assert.deepEqual(index.accessFor('web', 'shop'), { mtls: 'strict', rules: [{ from: { namespaces: ['ops'] } }] });
  });

  it('a policy without rules adds none: the result allows every caller', () => {
    assert.deepEqual(index.accessFor('cart', 'other'), { mtls: 'permissive' });
  });

  it('a service with no AccessPolicy gets no access at all', () => {
    assert.equal(index.accessFor('cart', 'shop2'), undefined);
    assert.equal(index.accessFor('web', 'other'), undefined);
  });
});
