// The mesh CA in Kubernetes, against the fake API server with the real @kubernetes/client-node:
// replicas share one issuer through the Secret petrel-identity-issuer (created once, read by the
// others), the stream is HTTPS from that issuer, and TokenReview, not the request, decides who a
// sidecar is: its certificate, its registered endpoint and which ACKs count.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ControlPlane } from '../control/control-plane.ts';
import { makeCsr } from './harness/csr.ts';
import { httpsGet, postJson, RawStream, requestCertificate, startControlPlane } from './harness/control-in-process.ts';
import { FakeKubeApi } from './harness/fake-kube-api.ts';

const SECRET = '/api/v1/namespaces/petrel-system/secrets/petrel-identity-issuer';

describe('mesh CA in Kubernetes', () => {
  const api = new FakeKubeApi();
  const planes: ControlPlane[] = [];
  const streams: RawStream[] = [];
  let kubeconfig: string;

  before(async () => {
    await api.start();
    kubeconfig = join(mkdtempSync(join(tmpdir(), 'petrel-kube-')), 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      `clusters: [{ name: test, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: test, user: { token: test-token } }]',
      'contexts: [{ name: test, context: { cluster: test, user: test, namespace: shop } }]', '',
    ].join('\n'));
    for (const [token, username] of [['web-token', 'system:serviceaccount:shop:web'], ['payments-token', 'system:serviceaccount:shop:payments'], ['user-token', 'kubernetes-admin']]) {
      api.tokens.set(token as string, ['petrel']);
      api.usernames.set(token as string, username as string);
    }
  });

  after(async () => {
    for (const s of streams) s.close();
    await Promise.all(planes.map((p) => p.stop()));
    await api.stop();
  });

  const start = async (o: Parameters<typeof startControlPlane>[0] = {}) => {
    const control = await startControlPlane({ kubernetes: { kubeconfig }, tokenReview: true, namespace: 'petrel-system', ...o });
    planes.push(control);
    return control;
  };

  it('creates the issuer Secret once; replicas racing for it, and one started later, all sign with the same root', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    assert.deepEqual(api.created.filter((p) => p === SECRET), [SECRET], 'one create; the loser of the race got 409 and read the winner\'s');
    const root = a.identity!.roots()[0] as string;
    assert.equal(b.identity!.roots()[0], root);
    const secret = api.plainObjects.get(SECRET) as { data: Record<string, string> };
    assert.equal(Buffer.from(secret.data['ca.crt'] as string, 'base64').toString(), root);
    const c = await start();
    assert.equal(c.identity!.roots()[0], root, 'a later replica reads the Secret');
    // The race, made certain: this replica reads 404, then its create answers 409 and it reads the winner's.
    const conflicts = api.conflicts;
    api.hideOnce.add(SECRET);
    const d = await start();
    assert.equal(api.conflicts, conflicts + 1, 'its create was refused with 409');
    assert.equal(d.identity!.roots()[0], root, 'and it signs with the winner\'s issuer');
    assert.equal(api.created.filter((p) => p === SECRET).length, 1);
    // With --kubernetes the stream is HTTPS, with a serving certificate the shared root verifies.
    for (const replica of [a, b, c]) {
      const reply = await httpsGet(replica, '/v1/none', [root], 'petrel-control.petrel-system.svc');
      assert.equal(reply.status, 401);
      assert.ok(new X509Certificate(reply.peerCertificate).verify(new X509Certificate(root).publicKey));
    }
  });

  describe('TokenReview decides the identity', () => {
    let control: ControlPlane;
    before(async () => {
      control = await start({ streamTls: false }); // plaintext here, to reuse the plain HTTP helpers
    });

    it('names the token\'s service account in the certificate, whatever the request and the CSR say', async () => {
      const reply = await requestCertificate(control, { csr: await makeCsr({ san: 'spiffe://cluster.local/ns/kube-system/sa/admin' }), namespace: 'kube-system', serviceAccount: 'admin' }, 'web-token');
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(new X509Certificate(reply.body.certificate).subjectAltName, 'URI:spiffe://cluster.local/ns/shop/sa/web');
      assert.equal(reply.body.identity, 'spiffe://cluster.local/ns/shop/sa/web');
      const user = await requestCertificate(control, { csr: await makeCsr(), namespace: 'shop', serviceAccount: 'web' }, 'user-token');
      assert.equal(user.status, 401, 'a valid token that is not a ServiceAccount\'s names no workload');
      assert.equal((await requestCertificate(control, { csr: await makeCsr(), namespace: 'shop', serviceAccount: 'web' }, 'unknown')).status, 401);
    });

    it('registers no endpoint for a ServiceAccount token (EndpointSlices are the truth) and refuses a subscription in another namespace', async () => {
      // The web pod claims to serve payments at its own address: with its own (real) identity listed,
      // callers' mTLS check would pass. It must not reach anyone's snapshot.
      const web = await RawStream.open(control, { service: 'payments', namespace: 'shop', address: '10.0.0.7:15006', name: 'web-0', serviceAccount: 'admin' }, 'web-token');
      streams.push(web);
      const snapshot = (await web.next((f) => f.type === 'snapshot')).snapshot;
      const addresses = snapshot.services.flatMap((s: any) => s.endpoints.map((e: any) => e.address));
      assert.ok(!addresses.includes('10.0.0.7:15006'), `a ServiceAccount subscription registered ${JSON.stringify(snapshot.services)}`);
      const elsewhere = await RawStream.open(control, { service: 'web', namespace: 'kube-system', address: '10.0.0.8:15006' }, 'web-token');
      assert.equal(elsewhere.status, 403);
      assert.match(elsewhere.frames[0].error, /the credential is service account shop\/web; it cannot subscribe in namespace kube-system/);
    });

    it('counts an ACK or deregister only from the principal whose subscription it answers', async () => {
      const web = await RawStream.open(control, { service: 'web', namespace: 'shop', address: '10.0.0.9:15006' }, 'web-token');
      streams.push(web);
      const hello = await web.hello();
      const { version } = (await web.next((f) => f.type === 'snapshot')).snapshot;
      // Even with the stream secret, another workload's token cannot answer for this stream.
      const forged = await postJson(control, '/v1/ack', { id: hello.id, secret: hello.secret, version, status: 'NACK', error: 'forged' }, 'payments-token');
      assert.equal(forged.status, 403);
      assert.match(forged.body.error, /NACK: subscription .* belongs to service account shop\/web, not service account shop\/payments/);
      assert.equal((await postJson(control, '/v1/deregister', { id: hello.id, secret: hello.secret }, 'payments-token')).status, 403);
      const mine = control.status().find((s) => s.id === hello.id);
      assert.equal(mine?.error, null);
      assert.equal(mine?.deregistered, false);
      assert.equal((await postJson(control, '/v1/ack', { id: hello.id, secret: hello.secret, version, status: 'ACK' }, 'web-token')).status, 204);
      assert.equal(control.status().find((s) => s.id === hello.id)?.state, 'SYNCED');
    });
  });
});
