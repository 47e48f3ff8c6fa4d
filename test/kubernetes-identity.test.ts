// Endpoint identities in Kubernetes: each EndpointSlice endpoint carries the SPIFFE identity of the
// service account its pod runs as, learnt from a pod informer that caches meshed pods only. The real
// @kubernetes/client-node against the fake API server (list/watch, 410 Gone), in process.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { loadKubeConfig } from '../control/kube-config.ts';
import { Registry } from '../control/registry.ts';
import { KubernetesSource } from '../control/sources/kubernetes.ts';
import { PodIdentities } from '../control/sources/pod-identities.ts';
import { FakeKubeApi } from './harness/fake-kube-api.ts';
import { tempDir } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const SLICES = '/apis/discovery.k8s.io/v1/endpointslices';
const PODS = '/api/v1/pods';

/** A pod as the API server stores it after injection (or without, when meshed is false). */
const pod = (namespace: string, name: string, serviceAccount: string, meshed = true) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace },
  spec: {
    serviceAccountName: serviceAccount,
    ...(meshed ? { initContainers: [{ name: 'petrel-init', image: 'petrel' }, { name: 'petrel-sidecar', image: 'petrel', restartPolicy: 'Always' }] } : {}),
    containers: [{ name: 'app', image: 'app' }],
  },
});

const slice = (namespace: string, service: string, endpoints: { ip: string; pod: string; podNamespace?: string }[]) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: `${service}-abcde`, namespace, labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: e.pod, ...(e.podNamespace ? { namespace: e.podNamespace } : {}) } })),
});

function kubeconfigFor(api: FakeKubeApi): string {
  const file = join(tempDir(), 'kubeconfig');
  writeFileSync(file, [
    'apiVersion: v1', 'kind: Config', 'current-context: test',
    `clusters: [{ name: test, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
    'users: [{ name: test, user: { token: test-token } }]',
    'contexts: [{ name: test, context: { cluster: test, user: test, namespace: shop } }]', '',
  ].join('\n'));
  return file;
}

describe('endpoint identities from pods\' service accounts', () => {
  const api = new FakeKubeApi();
  const registry = new Registry();
  const logs: Record<string, any>[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _enc, done) { logs.push(JSON.parse(chunk.toString())); done(); } }));
  let source: KubernetesSource;

  const endpoints = (service: string) => registry.services().find((s) => s.name === service)?.endpoints ?? [];
  const identityOf = (service: string, podName: string) => endpoints(service).find((e) => e.name === podName)?.identity;

  before(async () => {
    await api.start();
    api.apply(PODS, pod('shop', 'payments-0', 'payments'));
    api.apply(PODS, pod('shop', 'payments-1', 'payments'));
    api.apply(PODS, pod('shop', 'legacy-0', 'legacy', false));
    api.apply(PODS, pod('billing', 'invoicer-0', 'invoicer'));
    api.apply(SLICES, slice('shop', 'payments', [{ ip: '10.1.0.1', pod: 'payments-0' }, { ip: '10.1.0.2', pod: 'payments-1' }, { ip: '10.1.0.3', pod: 'payments-2' }]));
    api.apply(SLICES, slice('shop', 'legacy', [{ ip: '10.1.1.1', pod: 'legacy-0' }]));
    // An endpoint whose pod lives in another namespace than its slice (a Service without selector, hand-made slice).
    api.apply(SLICES, slice('shop', 'invoices', [{ ip: '10.1.2.1', pod: 'invoicer-0', podNamespace: 'billing' }]));
    source = new KubernetesSource({ kubeconfig: kubeconfigFor(api), registry, log, trustDomain: 'mesh.example' });
    await source.start();
  });

  after(async () => {
    source?.stop();
    await api.stop();
  });

  it('gives each endpoint the SPIFFE identity of its pod\'s service account, in the configured trust domain', async () => {
    await waitFor(() => endpoints('payments').length === 3, 'the payments endpoints');
    assert.deepEqual(endpoints('payments'), [
      { address: '10.1.0.1:8080', name: 'payments-0', identity: 'spiffe://mesh.example/ns/shop/sa/payments' },
      { address: '10.1.0.2:8080', name: 'payments-1', identity: 'spiffe://mesh.example/ns/shop/sa/payments' },
      // No such pod (yet): no identity, so callers use plaintext.
      { address: '10.1.0.3:8080', name: 'payments-2' },
    ]);
    assert.equal(identityOf('invoices', 'invoicer-0'), 'spiffe://mesh.example/ns/billing/sa/invoicer', 'the pod\'s namespace, not the slice\'s');
  });

  it('gives no identity to an endpoint whose pod has no sidecar, and says so at debug', () => {
    assert.deepEqual(endpoints('legacy'), [{ address: '10.1.1.1:8080', name: 'legacy-0' }]);
    const line = logs.filter((l) => /endpoints without an identity/.test(l.msg)).at(-1);
    assert.equal(line?.level, 20, 'debug');
    assert.deepEqual([...line?.endpoints].sort(), ['shop/legacy-0', 'shop/payments-2']);
  });

  it('republishes the endpoint when its pod appears after the slice', async () => {
    api.apply(PODS, pod('shop', 'payments-2', 'payments'));
    await waitFor(() => identityOf('payments', 'payments-2') === 'spiffe://mesh.example/ns/shop/sa/payments', 'payments-2 identified');
  });

  it('follows a pod that comes back under the same name with another service account, and forgets a deleted one', async () => {
    // A pod's service account cannot be edited; a StatefulSet pod recreated from a changed template can.
    api.apply(PODS, pod('shop', 'payments-1', 'payments-v2'));
    await waitFor(() => identityOf('payments', 'payments-1') === 'spiffe://mesh.example/ns/shop/sa/payments-v2', 'payments-1 under its new service account');
    api.delete(PODS, 'shop', 'payments-0');
    await waitFor(() => identityOf('payments', 'payments-0') === undefined, 'payments-0 without identity once its pod is gone');
    assert.equal(endpoints('payments').length, 3, 'the endpoint itself stays as long as its slice lists it');
  });

  it('relists pods after 410 Gone and keeps following them', async () => {
    const listsBefore = api.lists.get(PODS) ?? 0;
    const goneBefore = api.gone;
    // Something else changes meanwhile, so the pod watch's resourceVersion is older than the compaction.
    api.apply(SLICES, slice('shop', 'other', [{ ip: '10.1.3.1', pod: 'other-0' }]));
    api.compact();
    api.dropWatches();
    api.apply(PODS, pod('shop', 'payments-0', 'payments-v3'));
    await waitFor(() => identityOf('payments', 'payments-0') === 'spiffe://mesh.example/ns/shop/sa/payments-v3', 'payments-0 after the relist');
    assert.ok(api.gone > goneBefore, 'a watch resumed from a compacted resourceVersion and got 410 Gone');
    assert.ok((api.lists.get(PODS) ?? 0) > listsBefore, 'the pods were listed again');
    // Deleted while the watch was down: the relist drops it.
    const listsAfterFirst = api.lists.get(PODS) ?? 0;
    api.dropWatches();
    api.apply(SLICES, slice('shop', 'other', [{ ip: '10.1.3.2', pod: 'other-0' }]));
    api.compact();
    api.delete(PODS, 'shop', 'payments-2');
    await waitFor(() => identityOf('payments', 'payments-2') === undefined, 'payments-2 dropped by the relist');
    assert.ok((api.lists.get(PODS) ?? 0) > listsAfterFirst, 'listed again');
  });
});

describe('the pod cache', () => {
  const api = new FakeKubeApi();

  before(() => api.start());
  after(() => api.stop());

  it('holds meshed pods only, as name and service account, up to its bound', async () => {
    for (let i = 0; i < 5; i++) api.apply(PODS, pod('shop', `plain-${i}`, 'plain', false));
    api.apply(PODS, pod('shop', 'a', 'sa-a'));
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _enc, done) { warnings.push(JSON.parse(chunk.toString()).msg); done(); } }));
    let changes = 0;
    const pods = new PodIdentities(loadKubeConfig(kubeconfigFor(api)), log, () => { changes++; }, 2);
    await pods.informer.start();
    await waitFor(() => pods.size === 1, 'the one meshed pod');
    assert.deepEqual(pods.informer.list(), [{ metadata: { name: 'a', namespace: 'shop', resourceVersion: String(api.get(PODS, 'shop', 'a')?.metadata.resourceVersion) }, serviceAccount: 'sa-a' }]);
    // Watched events: a plain pod is never cached; meshed pods up to the bound.
    api.apply(PODS, pod('shop', 'plain-9', 'plain', false));
    api.apply(PODS, pod('shop', 'b', 'sa-b'));
    api.apply(PODS, pod('shop', 'c', 'sa-c'));
    await waitFor(() => warnings.some((w) => /too many meshed pods/.test(w)), 'the bound warning');
    assert.equal(pods.size, 2);
    assert.equal(pods.serviceAccount('shop', 'b'), 'sa-b');
    assert.equal(pods.serviceAccount('shop', 'c'), undefined, 'over the bound');
    assert.equal(pods.serviceAccount('shop', 'plain-9'), undefined);
    // A status update (same service account) does not republish endpoints.
    await new Promise((r) => setImmediate(r));
    const before = changes;
    api.apply(PODS, { ...pod('shop', 'b', 'sa-b'), status: { phase: 'Running' } });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(changes, before);
    // Below the bound again, a new meshed pod is tracked.
    api.delete(PODS, 'shop', 'a');
    api.apply(PODS, pod('shop', 'd', 'sa-d'));
    await waitFor(() => pods.serviceAccount('shop', 'd') === 'sa-d', 'd tracked once a slot is free');
    await pods.informer.stop();
  });
});
