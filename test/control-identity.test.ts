// The mesh CA over real HTTP on loopback, against a ControlPlane started in this process:
// POST /v1/certificate with the shared secret (a local mesh), the trust bundle in snapshots, a
// rotation pushed to open streams, --no-identity, and the stream over HTTPS from the mesh issuer.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { snapshotContentHash } from '../api/snapshot-hash.ts';
import type { ControlPlane } from '../control/control-plane.ts';
import { runStatus } from '../control/status-command.ts';
import { makeCsr, rsaCsr, tamper } from './harness/csr.ts';
import { httpsGet, postJson, RawStream, requestCertificate, startControlPlane } from './harness/control-in-process.ts';

const HOUR = 3_600_000;
const TOKEN = 's3cret';
const metric = async (control: ControlPlane, name: string, labels = ''): Promise<number> => {
  const text = await (await fetch(`http://${control.address('api')}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
};

describe('mesh CA over HTTP (local credential)', () => {
  const planes: ControlPlane[] = [];
  const streams: RawStream[] = [];
  after(async () => {
    for (const s of streams) s.close();
    await Promise.all(planes.map((p) => p.stop()));
  });
  const start = async (o: Parameters<typeof startControlPlane>[0] = {}) => {
    const control = await startControlPlane({ token: TOKEN, ...o });
    planes.push(control);
    return control;
  };

  it('turns a CSR into a certificate for the requested identity, signed by the root, with the configured lifetime; the CSR\'s own SAN is ignored', async () => {
    const control = await start({ certTtlMs: 2 * HOUR });
    const reply = await requestCertificate(control, { csr: await makeCsr({ san: 'spiffe://evil/ns/kube-system/sa/admin' }), namespace: 'shop', serviceAccount: 'web' }, TOKEN);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const leaf = new X509Certificate(reply.body.certificate);
    const root = new X509Certificate(reply.body.roots[0]);
    assert.deepEqual(reply.body.roots, control.identity?.roots());
    assert.ok(leaf.verify(root.publicKey) && leaf.checkIssued(root), 'verified against the root');
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(reply.body.identity, 'spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 2 * HOUR + 60_000, 'certTtl plus one minute of skew before now');
    assert.equal(reply.body.notAfter, new Date(leaf.validTo).toISOString());
    assert.equal(await metric(control, 'petrel_control_certificates_issued_total'), 1);
  });

  it('answers 400 naming what is wrong with a CSR or a body, 401 without the token, 413 past 16 KiB', async () => {
    const control = await start();
    const ask = async (body: unknown, token: string | undefined = TOKEN) => requestCertificate(control, body, token);
    const good = await makeCsr();
    const cases: [unknown, RegExp][] = [
      [{ csr: 'garbage', namespace: 'shop', serviceAccount: 'web' }, /csr: not a PEM certificate request/],
      [{ csr: tamper(good), namespace: 'shop', serviceAccount: 'web' }, /csr: the signature does not verify/],
      [{ csr: await rsaCsr(), namespace: 'shop', serviceAccount: 'web' }, /csr: the key must be ECDSA P-256, got RSASSA-PKCS1-v1_5/],
      [{ csr: good, namespace: 'Shop', serviceAccount: 'web' }, /namespace must be a Kubernetes name/],
      [{ csr: good, namespace: 'shop' }, /serviceAccount must be a Kubernetes name/],
      ['{not json', /the body is not JSON/],
    ];
    for (const [body, error] of cases) {
      const reply = await ask(body);
      assert.equal(reply.status, 400);
      assert.match(reply.body.error, error);
    }
    assert.equal((await ask({ csr: good, namespace: 'shop', serviceAccount: 'web' }, 'wrong')).status, 401);
    assert.equal((await ask({ csr: 'x'.repeat(17 * 1024), namespace: 'shop', serviceAccount: 'web' })).status, 413);
    assert.equal(await metric(control, 'petrel_control_certificate_requests_rejected_total', '{reason="bad_csr"}'), 3);
    assert.equal(await metric(control, 'petrel_control_certificate_requests_rejected_total', '{reason="bad_request"}'), 3);
    assert.equal(await metric(control, 'petrel_control_certificate_requests_rejected_total', '{reason="unauthenticated"}'), 1);
    assert.equal(await metric(control, 'petrel_control_certificate_requests_rejected_total', '{reason="too_large"}'), 1);
    assert.equal(await metric(control, 'petrel_control_certificates_issued_total'), 0);
  });

  it('answers 429 with retry-after once an identity is past its burst of 10; other identities are unaffected', async () => {
    const fixed = Date.now();
    const control = await start({ now: () => fixed }); // time stands still: no token comes back
    const csr = await makeCsr();
    for (let i = 0; i < 10; i++) assert.equal((await requestCertificate(control, { csr, namespace: 'shop', serviceAccount: 'web' }, TOKEN)).status, 200);
    const limited = await requestCertificate(control, { csr, namespace: 'shop', serviceAccount: 'web' }, TOKEN);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers['retry-after'], '1');
    assert.match(limited.body.error, /too many certificate requests for spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web; retry after 1s/);
    assert.equal((await requestCertificate(control, { csr, namespace: 'shop', serviceAccount: 'api' }, TOKEN)).status, 200);
    assert.equal(await metric(control, 'petrel_control_certificate_requests_rejected_total', '{reason="rate_limited"}'), 1);
  });

  it('puts the trust bundle and endpoint identities in snapshots, with a hash the sidecar computes the same; a rotation is pushed with both roots', async () => {
    const control = await start({ trustDomain: 'mesh.example' });
    const web = await RawStream.open(control, { service: 'web', namespace: 'shop', address: '127.0.0.1:1', name: 'web-0', serviceAccount: 'web-sa' }, TOKEN);
    streams.push(web);
    const first = (await web.next((f) => f.type === 'snapshot')).snapshot;
    assert.deepEqual(first.identity, { trustDomain: 'mesh.example', roots: control.identity?.roots() });
    assert.equal(first.identity.roots.length, 1);
    assert.deepEqual(first.services[0].endpoints, [{ address: '127.0.0.1:1', name: 'web-0', identity: 'spiffe://mesh.example/ns/shop/sa/web-sa' }], 'locally the identity comes from subscribe\'s namespace and service account');
    // A sidecar that comes back holding exactly this content is current without a push: the
    // content hash it computes from what it received is the control plane's.
    const resumed = await RawStream.open(control, { service: 'web', namespace: 'shop', address: '', name: 'web-1', serviceAccount: 'web-sa', version: String(first.version), hash: snapshotContentHash(first) }, TOKEN);
    streams.push(resumed);
    const { id } = await resumed.hello();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(resumed.frames.filter((f) => f.type === 'snapshot').length, 0, 'nothing pushed: the hashes agree');
    assert.equal(control.status().find((s) => s.id === id)?.state, 'SYNCED');

    const seen = web.frames.length;
    await control.identity!.rotate();
    const rotated = (await web.next((f) => f.type === 'snapshot', seen)).snapshot;
    assert.equal(rotated.identity.roots.length, 2, 'new and old roots during the rotation');
    assert.equal(rotated.identity.roots[1], first.identity.roots[0]);
  });

  it('records the certificate an ACK reports and shows it in petrel status', async () => {
    const control = await start();
    const web = await RawStream.open(control, { service: 'web', namespace: 'shop', address: '127.0.0.1:2' }, TOKEN);
    streams.push(web);
    const hello = await web.hello();
    const snapshot = (await web.next((f) => f.type === 'snapshot')).snapshot;
    const ack = await postJson(control, '/v1/ack', { id: hello.id, secret: hello.secret, version: snapshot.version, status: 'ACK', identity: 'spiffe://cluster.local/ns/shop/sa/web', certNotAfter: '2030-01-02T03:04:05Z' }, TOKEN);
    assert.equal(ack.status, 204);
    const status = control.status().find((s) => s.id === hello.id);
    assert.equal(status?.identity, 'spiffe://cluster.local/ns/shop/sa/web');
    assert.equal(status?.certExpires, '2030-01-02T03:04:05.000Z');
    const lines: string[] = [];
    const tokenFile = join(mkdtempSync(join(tmpdir(), 'petrel-token-')), 'token');
    writeFileSync(tokenFile, TOKEN);
    assert.equal(await runStatus(`http://${control.address('api')}`, 'table', (l) => lines.push(l), tokenFile), 0);
    assert.match(lines[0] ?? '', /IDENTITY +CERT EXPIRES/);
    assert.match(lines.join('\n'), /^web +shop +127\.0\.0\.1:2 .* SYNCED .* spiffe:\/\/cluster\.local\/ns\/shop\/sa\/web +2030-01-02T03:04:05\.000Z/m);
  });

  it('with identity off: 404 on /v1/certificate, no bundle and no endpoint identity in snapshots', async () => {
    const control = await start({ identity: false });
    assert.equal(control.identity, undefined);
    const reply = await requestCertificate(control, { csr: await makeCsr(), namespace: 'shop', serviceAccount: 'web' }, TOKEN);
    assert.equal(reply.status, 404);
    assert.match(reply.body.error, /issues no certificates \(it runs with --no-identity\)/);
    const web = await RawStream.open(control, { service: 'web', namespace: 'shop', address: '127.0.0.1:3' }, TOKEN);
    streams.push(web);
    const snapshot = (await web.next((f) => f.type === 'snapshot')).snapshot;
    assert.equal(snapshot.identity, undefined);
    assert.deepEqual(snapshot.services[0].endpoints, [{ address: '127.0.0.1:3', name: '127.0.0.1:3' }]);
  });

  it('serves the stream over HTTPS with a certificate from the mesh issuer (streamTls), re-signed after a rotation', async () => {
    const control = await start({ streamTls: true, namespace: 'petrel-system' });
    const roots = control.identity!.roots();
    const first = await httpsGet(control, '/v1/none', roots, 'petrel-control.petrel-system.svc');
    assert.equal(first.status, 401, 'TLS verified against the mesh root, then the stream wants its token');
    await assert.rejects(httpsGet(control, '/v1/none', roots, 'elsewhere.example'), /Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.equal((await fetch(`http://${control.address('stream')}/v1/none`).catch((err: Error) => err)) instanceof Error, true, 'no plaintext');
    await control.identity!.rotate();
    const newRoot = control.identity!.roots()[0] as string;
    let status = 0;
    for (let i = 0; i < 50 && status === 0; i++) {
      status = await httpsGet(control, '/v1/none', [newRoot], 'petrel-control.petrel-system.svc.cluster.local').then((r) => r.status, () => 0);
      if (status === 0) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 401, 'the serving certificate now chains to the new root');
  });
});
