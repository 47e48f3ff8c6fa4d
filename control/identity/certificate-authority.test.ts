// The mesh CA without a server: what a leaf says, that the CSR's own claims are ignored, how a bad
// CSR is refused, rotation against an injected clock, the issuance rate limit, and --ca-dir layouts.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CertificateAuthority } from './certificate-authority.ts';
import { CsrError } from './csr.ts';
import { IssuanceRateLimit } from './issuance-rate-limit.ts';
import { generateIssuer, IssuerError, loadIssuerDir, saveIssuerDir } from './issuer.ts';
import { makeCsr, rsaCsr, tamper } from '../../test/harness/csr.ts';
import { x509 } from './x509.ts';

const HOUR = 3_600_000;

async function newCa(now: () => number, certTtlMs = 24 * HOUR): Promise<CertificateAuthority> {
  return new CertificateAuthority({ issuer: await generateIssuer('cluster.local', new Date(now())), trustDomain: 'cluster.local', certTtlMs, now });
}

describe('mesh certificate authority', () => {
  it('signs a CSR into a leaf naming only the identity it is given, valid from now-60s to now+ttl', async () => {
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const ca = await newCa(() => t0, 2 * HOUR);
    const issued = await ca.issue(await makeCsr({ san: 'spiffe://evil/ns/kube-system/sa/admin' }), 'shop', 'web');
    const leaf = new X509Certificate(issued.certificate);
    const root = new X509Certificate(ca.roots()[0] as string);
    assert.ok(leaf.verify(root.publicKey), 'signed by the root');
    assert.ok(leaf.checkIssued(root));
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/web', 'the CSR\'s own SAN is never copied');
    assert.equal(leaf.subject, undefined, 'empty subject: the CSR\'s CN=evil is not copied');
    assert.equal(issued.identity, 'spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(Date.parse(leaf.validFrom), t0 - 60_000);
    assert.equal(Date.parse(leaf.validTo), t0 + 2 * HOUR);
    assert.equal(issued.notAfter, new Date(t0 + 2 * HOUR).toISOString());
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'EKU serverAuth + clientAuth');
    assert.equal(leaf.serialNumber.length, 32, '16 random bytes');
    assert.deepEqual(issued.roots, ca.roots());
    const parsed = new x509.X509Certificate(issued.certificate);
    assert.equal(parsed.getExtension(x509.SubjectAlternativeNameExtension)?.critical, true, 'the SAN is critical (empty subject)');
    assert.ok(parsed.getExtension(x509.AuthorityKeyIdentifierExtension) !== null, 'AKI present');
    assert.equal(root.ca, true);
    const basic = new x509.X509Certificate(ca.roots()[0] as string).getExtension(x509.BasicConstraintsExtension);
    assert.equal(basic?.pathLength, 0, 'the root signs leaves only');
  });

  it('refuses garbage, a CSR whose signature does not verify, and a non-P-256 key, saying which', async () => {
    const ca = await newCa(Date.now);
    const refused = async (csr: string, message: RegExp) => assert.rejects(ca.issue(csr, 'shop', 'web'), (err: unknown) => err instanceof CsrError && err.code === 'PETREL_BAD_CSR' && message.test(err.message));
    await refused('garbage', /csr: not a PEM certificate request/);
    await refused('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----', /csr: not a valid PKCS#10 request/);
    await refused(tamper(await makeCsr()), /csr: the signature does not verify/);
    await refused(await rsaCsr(), /csr: the key must be ECDSA P-256, got RSASSA-PKCS1-v1_5/);
  });

  it('rotates: new certificates from the new issuer, both roots in the bundle until the old one\'s last certificate expires', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const ca = await newCa(() => now, HOUR);
    const bundles: number[] = [];
    ca.on('bundle', () => bundles.push(ca.roots().length));
    const oldRoot = ca.roots()[0] as string;
    const before = new X509Certificate((await ca.issue(await makeCsr(), 'shop', 'web')).certificate);
    now += 30 * 60_000;
    await ca.rotate();
    assert.deepEqual(bundles, [2], 'a rotation announces the new bundle (the control plane pushes it)');
    const [newRoot, kept] = ca.roots();
    assert.equal(kept, oldRoot, 'the old root is still trusted');
    assert.notEqual(newRoot, oldRoot);
    const after = new X509Certificate((await ca.issue(await makeCsr(), 'shop', 'web')).certificate);
    assert.ok(after.verify(new X509Certificate(newRoot as string).publicKey), 'new certificates come from the new issuer');
    assert.ok(before.verify(new X509Certificate(oldRoot).publicKey));
    // The old root stays until now + ttl at rotation (90 min past t0): no certificate it signed outlives that.
    now = Date.parse('2030-01-01T01:29:00Z');
    assert.equal(ca.roots().length, 2);
    now = Date.parse('2030-01-01T01:30:01Z');
    assert.deepEqual(ca.roots(), [newRoot], 'the old root drops out once its certificates have expired');
    ca.close();
  });

  it('rate-limits issuance per identity: a burst of 10, then one per second', () => {
    let now = 0;
    const limit = new IssuanceRateLimit(() => now);
    for (let i = 0; i < 10; i++) assert.deepEqual(limit.take('a'), { ok: true });
    assert.deepEqual(limit.take('a'), { ok: false, retryAfterSeconds: 1 });
    assert.deepEqual(limit.take('b'), { ok: true }, 'another identity has its own bucket');
    now += 1000;
    assert.deepEqual(limit.take('a'), { ok: true });
    assert.equal(limit.take('a').ok, false);
  });

  it('keeps the issuer in --ca-dir (ca.crt + ca.key, key owner-only) and reads cert-manager\'s tls.crt + tls.key', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'petrel-ca-')), 'ca');
    assert.equal(await loadIssuerDir(dir), undefined);
    const issuer = await generateIssuer('cluster.local', new Date());
    await saveIssuerDir(dir, issuer);
    assert.deepEqual(readdirSync(dir).sort(), ['ca.crt', 'ca.key']);
    assert.equal(statSync(join(dir, 'ca.key')).mode & 0o777, 0o600);
    assert.equal((await loadIssuerDir(dir))?.certPem, issuer.certPem);
    const certManager = mkdtempSync(join(tmpdir(), 'petrel-cm-'));
    writeFileSync(join(certManager, 'tls.crt'), issuer.certPem);
    writeFileSync(join(certManager, 'tls.key'), issuer.keyPem);
    assert.equal((await loadIssuerDir(certManager))?.certPem, issuer.certPem);
    writeFileSync(join(certManager, 'tls.key'), (await generateIssuer('cluster.local', new Date())).keyPem);
    await assert.rejects(loadIssuerDir(certManager), (err: unknown) => err instanceof IssuerError && /tls\.crt, tls\.key\): the key does not belong to the certificate/.test(err.message));
  });
});
