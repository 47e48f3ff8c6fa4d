// SPIFFE identities as the mesh writes and reads them, and the URI SANs Node prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSpiffe, identityOfCertificate, meshServerName, parseSpiffe, uriSans } from './spiffe.ts';
import { checkPeerIdentity } from './mesh-tls.ts';
import type { PeerCertificate } from 'node:tls';

test('formats and parses the mesh form; refuses anything else', () => {
  const uri = formatSpiffe('cluster.local', 'shop', 'web');
  assert.equal(uri, 'spiffe://cluster.local/ns/shop/sa/web');
  assert.deepEqual(parseSpiffe(uri), { uri, trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' });
  for (const bad of ['spiffe://cluster.local/ns/shop', 'https://cluster.local/ns/shop/sa/web', 'spiffe://cluster.local/ns/Shop/sa/web',
    'spiffe://cluster.local/ns/shop/sa/web/extra', 'spiffe://cluster.local/ns/shop/sa/', 'spiffe:///ns/shop/sa/web']) {
    assert.equal(parseSpiffe(bad), undefined, bad);
  }
});

test('reads URI SANs from Node\'s subjectAltName, quoted values included; an identity needs exactly one', () => {
  assert.deepEqual(uriSans('URI:spiffe://td/ns/a/sa/b'), ['spiffe://td/ns/a/sa/b']);
  assert.deepEqual(uriSans('DNS:x.example, URI:spiffe://td/ns/a/sa/b, IP Address:127.0.0.1'), ['spiffe://td/ns/a/sa/b']);
  assert.deepEqual(uriSans('URI:"spiffe://td/ns/a/sa/b,evil", DNS:y'), ['spiffe://td/ns/a/sa/b,evil']);
  assert.deepEqual(uriSans(undefined), []);
  assert.equal(identityOfCertificate({ subjectAltName: 'URI:spiffe://td/ns/a/sa/b, URI:spiffe://td/ns/a/sa/c' }), undefined);
  assert.equal(identityOfCertificate({ subjectAltName: 'DNS:payments' }), undefined);
  assert.equal(identityOfCertificate({ subjectAltName: 'URI:spiffe://td/ns/a/sa/b' })?.serviceAccount, 'b');
});

test('the caller\'s check accepts exactly the listed identity: not a second SAN, not a DNS name', () => {
  const expected = parseSpiffe('spiffe://cluster.local/ns/shop/sa/payments')!;
  const check = checkPeerIdentity(expected);
  const cert = (san: string) => ({ subjectaltname: san }) as PeerCertificate;
  assert.equal(check('x', cert('URI:spiffe://cluster.local/ns/shop/sa/payments')), undefined);
  assert.match(String(check('x', cert('URI:spiffe://cluster.local/ns/shop/sa/web'))), /presented spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web, but this endpoint must be/);
  assert.ok(check('x', cert('URI:spiffe://cluster.local/ns/shop/sa/payments, URI:spiffe://cluster.local/ns/shop/sa/web')) instanceof Error);
  assert.ok(check('x', cert('DNS:payments.shop.svc')) instanceof Error);
  assert.equal(meshServerName(expected), 'payments.shop.serviceaccount.identity.petrel.cluster.local');
});
