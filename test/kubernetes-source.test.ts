// The Kubernetes policy source against a small API server that speaks list/watch with
// resourceVersion, bookmarks and 410 Gone, with the real @kubernetes/client-node on top.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { FakeKubeApi } from './harness/fake-kube-api.ts';
import { waitFor } from './harness/wait.ts';
import { freePort, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';

const POLICIES = '/apis/petrel.dev/v1alpha1/resiliencepolicies';
const SLICES = '/apis/discovery.k8s.io/v1/endpointslices';
const ACCESS = '/apis/petrel.dev/v1alpha1/accesspolicies';

const policy = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'petrel.dev/v1alpha1', kind: 'ResiliencePolicy', metadata: { name, namespace: 'shop' }, spec,
});

const slice = (service: string, ips: string[], port: number) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: `${service}-abcde`, namespace: 'shop', labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port, protocol: 'TCP' }],
  endpoints: ips.map((ip, i) => ({ addresses: [ip], conditions: { ready: i !== 2 }, targetRef: { kind: 'Pod', name: `${service}-${i}`, namespace: 'shop' } })),
});


describe('Kubernetes source', () => {
  const api = new FakeKubeApi();
  let control: ControlHandle;
  let web: SidecarHandle;
  let webhookPort: number;

  before(async () => {
    await api.start();
    const kubeconfig = join(tempDir(), 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      // client-node refuses plain HTTP unless told to skip TLS verification.
      `clusters: [{ name: test, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: test, user: { token: test-token } }]',
      'contexts: [{ name: test, context: { cluster: test, user: test, namespace: shop } }]', '',
    ].join('\n'));
    api.apply(POLICIES, policy('payments', { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 3 } }));
    api.apply(SLICES, slice('payments', ['10.1.0.1', '10.1.0.2', '10.1.0.3'], 8080));
    api.tokens.set('web-sa-token', ['petrel']);
    api.tokens.set('wrong-audience-token', ['kubernetes']);
    // The webhook configurations as `kubectl apply -k k8s/` leaves them: no caBundle yet.
    const hook = (path: string) => ({ name: `h${path}`, clientConfig: { service: { name: 'petrel-control', namespace: 'petrel-system', path } } });
    api.plainObjects.set('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/petrel-injector', { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'petrel-injector' }, webhooks: [hook('/inject'), hook('/inject')] });
    api.plainObjects.set('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/petrel-policy-validator', { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'petrel-policy-validator' }, webhooks: [hook('/validate')] });
    webhookPort = await freePort();
    // --no-identity: with identity on, --kubernetes serves the stream over HTTPS from the mesh issuer,
    // which this test's plaintext sidecar does not speak; the CA in Kubernetes (issuer Secret,
    // HTTPS stream, TokenReview identities) is tested in control-identity-kubernetes.test.ts.
    control = await startControl({ policiesDir: tempDir(), args: ['--kubernetes', '--kubeconfig', kubeconfig, '--token-review', '--startup-grace', '0s', '--webhook-port', String(webhookPort), '--no-identity'] });
    const token = join(tempDir(), 'token');
    writeFileSync(token, 'web-sa-token');
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl, '--namespace', 'shop', '--token-file', token] });
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await api.stop();
  });

  const dump = async () => (await web.admin('/config_dump')).json() as Promise<{ snapshot: { services: { name: string; endpoints: { address: string; name: string }[]; policy?: { retry?: { attempts?: number } } }[] } }>;

  it('lists policies and EndpointSlices into the sidecar\'s snapshot (ready endpoints only)', async () => {
    await waitFor(async () => (await dump()).snapshot.services.some((s) => s.name === 'payments'), 'payments in the snapshot');
    const payments = (await dump()).snapshot.services.find((s) => s.name === 'payments');
    assert.deepEqual(payments?.endpoints, [{ address: '10.1.0.1:8080', name: 'payments-0' }, { address: '10.1.0.2:8080', name: 'payments-1' }]);
    assert.equal(payments?.policy?.retry?.attempts, 3);
  });

  it('writes an Accepted condition back to each policy\'s status', async () => {
    await waitFor(() => (api.get(POLICIES, 'shop', 'payments')?.status as { conditions?: unknown[] } | undefined)?.conditions !== undefined, 'the status patch');
    const status = api.get(POLICIES, 'shop', 'payments')?.status as { observedGeneration: number; conditions: { type: string; status: string; reason: string }[] };
    assert.equal(status.observedGeneration, 1);
    assert.deepEqual(status.conditions.map((c) => [c.type, c.status, c.reason]), [['Accepted', 'True', 'Valid']]);
  });

  it('rejects an invalid edit with the field path in the condition, keeping the last good version', async () => {
    api.apply(POLICIES, policy('payments', { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 0 } }));
    await waitFor(() => ((api.get(POLICIES, 'shop', 'payments')?.status as { conditions?: { status: string }[] } | undefined)?.conditions?.[0]?.status === 'False'), 'Accepted=False');
    const condition = (api.get(POLICIES, 'shop', 'payments')?.status as { conditions: { message: string; reason: string }[] }).conditions[0]!;
    assert.equal(condition.reason, 'Invalid');
    assert.match(condition.message, /spec\.retry\.attempts: must be >= 1\. The previous version stays in force\./);
    assert.equal((await dump()).snapshot.services.find((s) => s.name === 'payments')?.policy?.retry?.attempts, 3);
    const status = await control.status();
    assert.equal(status.policies.rejected[0]?.origin, 'kubernetes shop/payments');
  });

  it('relists after 410 Gone and keeps watching', async () => {
    api.compact();
    api.dropWatches();
    api.apply(POLICIES, policy('payments', { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 4 } }));
    await waitFor(async () => (await dump()).snapshot.services.find((s) => s.name === 'payments')?.policy?.retry?.attempts === 4, 'the policy applied after a relist');
    assert.ok(api.gone >= 1, 'a watch resumed from a compacted resourceVersion and got 410 Gone');
    api.bookmark();
    api.apply(SLICES, slice('payments', ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4'], 8080));
    await waitFor(async () => (await dump()).snapshot.services.find((s) => s.name === 'payments')?.endpoints.length === 3, 'the new endpoint after a bookmark');
  });

  it('AccessPolicies: into the protected sidecar\'s inbound.access, Accepted on their status, an invalid edit keeps the last good one', async () => {
    type Access = { mtls: string; rules?: unknown[] } | undefined;
    const access = async () => ((await web.admin('/config_dump')).json() as Promise<{ snapshot: { inbound?: { access?: Access } } }>).then((d) => d.snapshot.inbound?.access);
    const condition = () => (api.get(ACCESS, 'shop', 'web')?.status as { conditions?: { status: string; reason: string; message: string }[] } | undefined)?.conditions?.[0];
    api.apply(ACCESS, { apiVersion: 'petrel.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'web', namespace: 'shop' },
      spec: { targetRef: { kind: 'Service', name: 'web' }, mtls: 'strict', rules: [{ from: { serviceAccounts: ['checkout'] } }] } });
    await waitFor(async () => (await access())?.mtls === 'strict', 'inbound.access in the web sidecar\'s snapshot');
    assert.deepEqual(await access(), { mtls: 'strict', rules: [{ from: { serviceAccounts: ['shop/checkout'] } }] });
    await waitFor(() => condition()?.status === 'True', 'Accepted=True on the AccessPolicy');
    api.apply(ACCESS, { apiVersion: 'petrel.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'web', namespace: 'shop' }, spec: { mtls: 'sometimes' } });
    await waitFor(() => condition()?.status === 'False', 'Accepted=False');
    assert.match(condition()!.message, /spec\.mtls: must be one of: "strict", "permissive"\. The previous version stays in force\./);
    assert.equal((await access())?.mtls, 'strict');
    assert.ok((await control.status()).policies.rejected.some((r) => r.origin === 'kubernetes AccessPolicy shop/web'));
    api.delete(ACCESS, 'shop', 'web');
    await waitFor(async () => (await access()) === undefined, 'the access gone with its policy');
  });

  it('authenticates sidecars with TokenReview for the petrel audience', async () => {
    assert.ok(api.tokenReviews >= 1);
    for (const token of ['wrong-audience-token', 'forged', '']) {
      const res = await fetch(`${control.streamUrl}/v1/subscribe?service=x&namespace=shop`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      assert.equal(res.status, 401, `token "${token}"`);
      await res.body?.cancel();
    }
  });

  it('restarts an informer that failed (the library does not)', async () => {
    api.failWatches = true;
    api.dropWatches();
    await waitFor(() => /informer failed; restarting/.test(control.output()), 'the restart in the log');
    api.failWatches = false;
    api.apply(POLICIES, policy('payments', { targetRef: { kind: 'Service', name: 'payments' }, retry: { attempts: 5 } }));
    await waitFor(async () => (await dump()).snapshot.services.find((s) => s.name === 'payments')?.policy?.retry?.attempts === 5, 'the policy after the informer recovered', 20_000);
  });

  it('creates the webhook certificate Secret, patches it into both caBundles and serves the webhooks with it', async () => {
    const secret = api.plainObjects.get('/api/v1/namespaces/petrel-system/secrets/petrel-webhook-tls');
    assert.ok(secret, 'the Secret petrel-webhook-tls was created in petrel-system');
    assert.equal(secret.type, 'kubernetes.io/tls');
    const cert = secret.data['tls.crt'] as string;
    const mutating = api.plainObjects.get('/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/petrel-injector')!;
    const validating = api.plainObjects.get('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/petrel-policy-validator')!;
    for (const hook of [...mutating.webhooks, ...validating.webhooks]) assert.equal(hook.clientConfig.caBundle, cert);
    const served = await new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: webhookPort, rejectUnauthorized: false }, () => {
        resolve(socket.getPeerX509Certificate()?.toString() ?? '');
        socket.end();
      });
      socket.on('error', reject);
    });
    assert.equal(new X509Certificate(served).fingerprint256, new X509Certificate(Buffer.from(cert, 'base64')).fingerprint256);
    assert.match(new X509Certificate(served).subjectAltName ?? '', /DNS:petrel-control\.petrel-system\.svc/);
  });
});
