// HTTPRoutes and Services from the Kubernetes API (the fake API server, the real client-node on
// top), through an in-process control plane to a raw config stream: a route reaches the snapshot,
// its status.parents entry carries Accepted and ResolvedRefs (GEP-1324) as the Gateway API defines
// them, BackendNotFound follows the Service list, an invalid edit keeps the previous version, a 410
// relists, and a cluster without the Gateway API CRDs keeps the control plane up and retries.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import type { ControlPlane } from '../control/control-plane.ts';
import { loadKubeConfig } from '../control/kube-config.ts';
import { MESH_CONTROLLER_NAME } from '../control/sources/route-status.ts';
import { ServiceIndex } from '../control/sources/services.ts';
import { RawStream, startControlPlane } from './harness/control-in-process.ts';
import { FakeKubeApi } from './harness/fake-kube-api.ts';
import { tempDir } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const ROUTES = '/apis/gateway.networking.k8s.io/v1/httproutes';
const SERVICES = '/api/v1/services';

const service = (name: string, clusterIP = '10.96.0.10') => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' },
  spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
});

const parent = { group: '', kind: 'Service', name: 'payments', port: 80 };
const route = (name: string, rules: unknown[], parentRefs: unknown[] = [parent]) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'shop' }, spec: { parentRefs, rules },
});
const split = (v1: number, other: string, weight: number) => [{
  name: 'split',
  backendRefs: [{ group: '', kind: 'Service', name: 'payments-v1', port: 80, weight: v1 }, { group: '', kind: 'Service', name: other, port: 80, weight }],
}];

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

/** A pino logger whose lines the test can read. */
function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
  return { log: pino({ level: 'debug' }, stream) as unknown as Logger, lines };
}

interface Condition { type: string; status: string; reason: string; message: string; observedGeneration: number; lastTransitionTime: string }
interface ParentStatus { parentRef: unknown; controllerName: string; conditions: Condition[] }

describe('Kubernetes source: HTTPRoutes and Services', () => {
  const api = new FakeKubeApi();
  let control: ControlPlane;
  let web: RawStream;

  before(async () => {
    await api.start();
    api.apply(SERVICES, service('payments', '10.96.0.10'));
    api.apply(SERVICES, service('payments-v1', '10.96.0.11'));
    api.apply(ROUTES, route('canary', split(90, 'payments', 10)));
    control = await startControlPlane({ kubernetes: { kubeconfig: kubeconfigFor(api) }, identity: false });
    web = await RawStream.open(control, { service: 'web', namespace: 'shop' });
  });

  after(async () => {
    web?.close();
    await control?.stop();
    await api.stop();
  });

  const ours = (name = 'canary'): ParentStatus | undefined =>
    (api.get(ROUTES, 'shop', name)?.status as { parents?: ParentStatus[] } | undefined)?.parents?.find((p) => p.controllerName === MESH_CONTROLLER_NAME);
  const condition = (type: string, name = 'canary') => ours(name)?.conditions.find((c) => c.type === type);
  /** The latest snapshot pushed to the web stream. */
  const latest = () => [...web.frames].reverse().find((f) => f.type === 'snapshot')?.snapshot as { services: { name: string; routing?: { rules: { name: string; backends: { service: string; weight: number }[] }[] } }[] } | undefined;
  const paymentsRouting = () => latest()?.services.find((s) => s.name === 'payments')?.routing;

  it('lists a route into the control plane and a sidecar\'s snapshot', async () => {
    await waitFor(() => paymentsRouting() !== undefined, 'payments routing in the snapshot');
    assert.deepEqual(paymentsRouting()!.rules.map((r) => [r.name, r.backends.map((b) => [b.service, b.weight])]), [['split', [['payments-v1', 90], ['payments', 10]]]]);
  });

  it('writes status.parents for the Service parent: Accepted and ResolvedRefs True, by merge patch', async () => {
    await waitFor(() => condition('ResolvedRefs') !== undefined, 'the route status');
    const entry = ours()!;
    assert.deepEqual(entry.parentRef, parent);
    assert.equal(entry.controllerName, 'petrel.dev/mesh');
    assert.deepEqual(entry.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'True', 'Accepted', 1], ['ResolvedRefs', 'True', 'ResolvedRefs', 1]]);
    for (const c of entry.conditions) assert.match(c.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const patches = api.patches.filter((p) => p.path === 'shop/canary');
    assert.ok(patches.length >= 1 && patches.every((p) => p.contentType === 'application/merge-patch+json'), JSON.stringify(patches));
    // Written only when changed: the MODIFIED event of its own patch writes nothing more.
    const count = patches.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(api.patches.filter((p) => p.path === 'shop/canary').length, count);
  });

  it('ResolvedRefs is False/BackendNotFound for a backend Service that does not exist, True once it is created', async () => {
    const acceptedSince = condition('Accepted')!.lastTransitionTime;
    api.apply(ROUTES, route('canary', split(50, 'payments-v2', 50)));
    await waitFor(() => condition('ResolvedRefs')?.observedGeneration === 2, 'status for generation 2');
    const refs = condition('ResolvedRefs')!;
    assert.deepEqual([refs.status, refs.reason], ['False', 'BackendNotFound']);
    assert.match(refs.message, /spec\.rules\[0\]\.backendRefs\[1\]: Service shop\/payments-v2 not found/);
    assert.deepEqual([condition('Accepted')!.status, condition('Accepted')!.lastTransitionTime], ['True', acceptedSince], 'Accepted unchanged, its transition time kept');
    // The route is in force all the same: the sidecar answers UH for a backend without endpoints.
    await waitFor(() => paymentsRouting()?.rules[0]?.backends[1]?.service === 'payments-v2', 'the new split in the snapshot');
    api.apply(SERVICES, service('payments-v2', '10.96.0.12'));
    await waitFor(() => condition('ResolvedRefs')?.status === 'True', 'ResolvedRefs=True once the Service exists');
    assert.equal(condition('ResolvedRefs')!.reason, 'ResolvedRefs');
  });

  it('an invalid edit gets Accepted=False with the field path and leaves the previous version in force', async () => {
    api.apply(ROUTES, route('canary', [{ matches: [{ path: { type: 'RegularExpression', value: '/pay.*' } }], backendRefs: [{ group: '', kind: 'Service', name: 'payments-v1', port: 80 }] }]));
    await waitFor(() => condition('Accepted')?.status === 'False', 'Accepted=False');
    const accepted = condition('Accepted')!;
    assert.equal(accepted.observedGeneration, 3);
    assert.equal(accepted.reason, 'UnsupportedValue');
    assert.match(accepted.message, /spec\.rules\[0\]\.matches\[0\]\.path\.type: .*The previous version stays in force\.$/);
    const status = await (await fetch(`http://${control.address('api')}/v1/status`)).json() as { policies: { rejected: { origin: string }[] } };
    assert.ok(status.policies.rejected.some((r) => r.origin === 'kubernetes HTTPRoute shop/canary'), JSON.stringify(status.policies));
    assert.deepEqual(paymentsRouting()!.rules.map((r) => r.backends.map((b) => b.service)), [['payments-v1', 'payments-v2']], 'the 50/50 split stays');
  });

  it('relists routes after 410 Gone', async () => {
    const gone = api.gone;
    api.compact();
    api.dropWatches();
    api.apply(ROUTES, route('canary', split(10, 'payments-v2', 90)));
    await waitFor(() => paymentsRouting()?.rules[0]?.backends[0]?.weight === 10, 'the edit after a relist');
    assert.ok(api.gone > gone, 'a watch resumed from a compacted resourceVersion and got 410 Gone');
    await waitFor(() => condition('Accepted')?.status === 'True', 'Accepted=True again');
  });

  it('leaves routes attached only to Gateways alone: not stored, no status', async () => {
    api.apply(ROUTES, route('gateway-only', split(1, 'payments', 1), [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }]));
    api.apply(ROUTES, route('marker', split(1, 'payments', 1)));
    await waitFor(() => condition('Accepted', 'marker') !== undefined, 'the later route\'s status');
    assert.equal(api.get(ROUTES, 'shop', 'gateway-only')?.status, undefined);
    api.delete(ROUTES, 'shop', 'marker');
  });

  it('a deleted route leaves the snapshot', async () => {
    api.delete(ROUTES, 'shop', 'canary');
    await waitFor(() => latest() !== undefined && paymentsRouting() === undefined, 'no routing on payments');
  });
});

describe('Kubernetes source: a cluster without the Gateway API CRDs', () => {
  const api = new FakeKubeApi();
  let control: ControlPlane;
  const { log, lines } = capturingLog();

  before(async () => {
    await api.start();
    api.uninstall(ROUTES);
    api.apply(SERVICES, service('payments'));
    control = await startControlPlane({ kubernetes: { kubeconfig: kubeconfigFor(api) }, identity: false, log });
  });

  after(async () => {
    await control?.stop();
    await api.stop();
  });

  it('starts, says so once, keeps retrying, and watches routes once the CRDs are installed', async () => {
    const status = await fetch(`http://${control.address('api')}/v1/status`);
    assert.equal(status.status, 200, 'the control plane is up');
    await waitFor(() => (api.notFound.get(ROUTES) ?? 0) >= 2, 'a second list of httproutes after the backoff');
    const said = lines.filter((l) => l.includes('Gateway API CRDs are not installed'));
    assert.equal(said.length, 1, lines.join('\n'));
    assert.equal(lines.filter((l) => /informer failed; restarting/.test(l) && l.includes('HTTPRoute')).length, 0);
    api.install(ROUTES);
    api.apply(ROUTES, route('canary', split(90, 'payments', 10)));
    await waitFor(() => ((api.get(ROUTES, 'shop', 'canary')?.status as { parents?: unknown[] } | undefined)?.parents?.length ?? 0) === 1, 'the route status once installed', 15_000);
  });
});

describe('ServiceIndex', () => {
  it('keeps name, namespace, ports and ClusterIPs; maps ClusterIPs to Services; headless Services have none', async () => {
    const api = new FakeKubeApi();
    await api.start();
    try {
      api.apply(SERVICES, service('payments', '10.96.0.10'));
      api.apply(SERVICES, { ...service('db'), spec: { clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 5432 }] } });
      let changes = 0;
      const index = new ServiceIndex(loadKubeConfig(kubeconfigFor(api)), pino({ level: 'silent' }), () => changes++);
      await index.informer.start();
      try {
        assert.deepEqual(index.get('shop', 'payments'), { metadata: { name: 'payments', namespace: 'shop', resourceVersion: index.get('shop', 'payments')!.metadata.resourceVersion }, clusterIps: ['10.96.0.10'], ports: [{ port: 80, name: 'http', protocol: 'TCP' }] });
        assert.deepEqual([...index.clusterIps()], [['10.96.0.10', { name: 'payments', namespace: 'shop' }]]);
        assert.equal(index.exists('shop', 'nope'), false);
        api.apply(SERVICES, service('cart', '10.96.0.20'));
        await waitFor(() => index.clusterIps().has('10.96.0.20'), 'a watched Service');
        api.delete(SERVICES, 'shop', 'payments');
        await waitFor(() => !index.clusterIps().has('10.96.0.10'), 'a deleted Service');
        assert.ok(changes >= 1);
      } finally {
        await index.informer.stop();
      }
    } finally {
      await api.stop();
    }
  });
});
