// GRPCRoutes from the Kubernetes API (the fake API server, the real client-node on top), through an
// in-process control plane to a raw config stream: a GRPCRoute is listed and watched into the
// snapshot, its status.parents entry carries Accepted and ResolvedRefs, an HTTPRoute on the same
// Service and port is Accepted False/Conflicted (GEP-1294) until the GRPCRoute goes, a 410 relists,
// and a cluster without the GRPCRoute CRD keeps HTTPRoutes working, says so once and keeps retrying.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino, type Logger } from 'pino';
import type { ControlPlane } from '../control/control-plane.ts';
import { MESH_CONTROLLER_NAME } from '../control/sources/route-status.ts';
import { RawStream, startControlPlane } from './harness/control-in-process.ts';
import { FakeKubeApi } from './harness/fake-kube-api.ts';
import { tempDir } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const GRPC_ROUTES = '/apis/gateway.networking.k8s.io/v1/grpcroutes';
const HTTP_ROUTES = '/apis/gateway.networking.k8s.io/v1/httproutes';
const SERVICES = '/api/v1/services';

const service = (name: string, clusterIP: string) => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' },
  spec: { clusterIP, clusterIPs: [clusterIP], ports: [{ name: 'grpc', port: 50051, protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' }] },
});
const parent = { group: '', kind: 'Service', name: 'echo', port: 50051 };
const backend = (name: string, weight = 1) => ({ group: '', kind: 'Service', name, port: 50051, weight });
const grpcRoute = (name: string, rules: unknown[]) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name, namespace: 'shop' }, spec: { parentRefs: [parent], rules },
});
const httpRoute = (name: string) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name, namespace: 'shop' },
  spec: { parentRefs: [parent], rules: [{ backendRefs: [backend('echo-v2')] }] },
});
const unary = (weightV2: number) => [{
  name: 'unary',
  matches: [{ method: { service: 'petrel.test.Echo', method: 'Unary' } }],
  backendRefs: [backend('echo'), backend('echo-v2', weightV2)],
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

function capturingLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
  return { log: pino({ level: 'debug' }, stream) as unknown as Logger, lines };
}

interface Condition { type: string; status: string; reason: string; message: string; observedGeneration: number }
interface ParentStatus { parentRef: unknown; controllerName: string; conditions: Condition[] }
interface Routing { matches: { match: { path?: { type: string; value: string } }; rule: number }[]; rules: { name: string; source: string; backends: { service: string; weight: number }[] }[] }

describe('Kubernetes source: GRPCRoutes', () => {
  const api = new FakeKubeApi();
  let control: ControlPlane;
  let web: RawStream;

  before(async () => {
    await api.start();
    api.apply(SERVICES, service('echo', '10.96.0.30'));
    api.apply(SERVICES, service('echo-v2', '10.96.0.31'));
    api.apply(GRPC_ROUTES, grpcRoute('echo-split', unary(10)));
    control = await startControlPlane({ kubernetes: { kubeconfig: kubeconfigFor(api) }, identity: false });
    web = await RawStream.open(control, { service: 'web', namespace: 'shop' });
  });

  after(async () => {
    web?.close();
    await control?.stop();
    await api.stop();
  });

  const entry = (path: string, name: string): ParentStatus | undefined =>
    (api.get(path, 'shop', name)?.status as { parents?: ParentStatus[] } | undefined)?.parents?.find((p) => p.controllerName === MESH_CONTROLLER_NAME);
  const condition = (path: string, name: string, type: string) => entry(path, name)?.conditions.find((c) => c.type === type);
  const latest = () => [...web.frames].reverse().find((f) => f.type === 'snapshot')?.snapshot as { services: { name: string; routing?: Routing }[] } | undefined;
  const echoRouting = () => latest()?.services.find((s) => s.name === 'echo')?.routing;

  it('lists a GRPCRoute into the snapshot: the method match becomes an Exact path', async () => {
    await waitFor(() => echoRouting() !== undefined, 'echo routing in the snapshot');
    const routing = echoRouting()!;
    assert.deepEqual(routing.matches, [{ match: { path: { type: 'Exact', value: '/petrel.test.Echo/Unary' } }, rule: 0 }]);
    assert.deepEqual(routing.rules.map((r) => [r.name, r.source, r.backends.map((b) => [b.service, b.weight])]), [['unary', 'GRPCRoute shop/echo-split rule 0', [['echo', 1], ['echo-v2', 10]]]]);
  });

  it('writes status.parents on the GRPCRoute: Accepted and ResolvedRefs True, by merge patch to grpcroutes/status', async () => {
    await waitFor(() => condition(GRPC_ROUTES, 'echo-split', 'ResolvedRefs') !== undefined, 'the GRPCRoute status');
    const ours = entry(GRPC_ROUTES, 'echo-split')!;
    assert.deepEqual(ours.parentRef, parent);
    assert.deepEqual(ours.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'True', 'Accepted', 1], ['ResolvedRefs', 'True', 'ResolvedRefs', 1]]);
    assert.ok(api.patches.some((p) => p.path === 'shop/echo-split' && p.contentType === 'application/merge-patch+json'));
  });

  it('follows a watched edit, and an invalid one keeps the previous version with Accepted=False and the field path', async () => {
    api.apply(GRPC_ROUTES, grpcRoute('echo-split', unary(30)));
    await waitFor(() => echoRouting()?.rules[0]?.backends[1]?.weight === 30, 'the edit in the snapshot');
    api.apply(GRPC_ROUTES, grpcRoute('echo-split', [{ matches: [{ method: { method: 'Unary' } }], backendRefs: [backend('echo')] }]));
    await waitFor(() => condition(GRPC_ROUTES, 'echo-split', 'Accepted')?.status === 'False', 'Accepted=False');
    const accepted = condition(GRPC_ROUTES, 'echo-split', 'Accepted')!;
    assert.equal(accepted.reason, 'UnsupportedValue');
    assert.match(accepted.message, /spec\.rules\[0\]\.matches\[0\]\.method\.service: is required.*The previous version stays in force\.$/);
    assert.equal(echoRouting()?.rules[0]?.backends[1]?.weight, 30, 'the previous version stays');
    api.apply(GRPC_ROUTES, grpcRoute('echo-split', unary(30)));
    await waitFor(() => condition(GRPC_ROUTES, 'echo-split', 'Accepted')?.status === 'True', 'Accepted=True again');
  });

  it('an HTTPRoute on the same Service and port is Accepted False/Conflicted, and Accepted once the GRPCRoute goes (GEP-1294)', async () => {
    api.apply(HTTP_ROUTES, httpRoute('web-on-echo'));
    await waitFor(() => condition(HTTP_ROUTES, 'web-on-echo', 'Accepted') !== undefined, 'the HTTPRoute status');
    const accepted = condition(HTTP_ROUTES, 'web-on-echo', 'Accepted')!;
    assert.deepEqual([accepted.status, accepted.reason], ['False', 'Conflicted']);
    assert.match(accepted.message, /GRPCRoute shop\/echo-split binds Service shop\/echo port 50051/);
    assert.equal(condition(HTTP_ROUTES, 'web-on-echo', 'ResolvedRefs')?.status, 'True');
    assert.ok(echoRouting()!.rules.every((r) => r.source.startsWith('GRPCRoute')), 'the HTTPRoute is left out of echo');
    api.delete(GRPC_ROUTES, 'shop', 'echo-split');
    await waitFor(() => condition(HTTP_ROUTES, 'web-on-echo', 'Accepted')?.status === 'True', 'Accepted=True once no GRPCRoute holds echo');
    await waitFor(() => echoRouting()?.rules[0]?.source === 'HTTPRoute shop/web-on-echo rule 0', 'the HTTPRoute routes echo now');
    api.delete(HTTP_ROUTES, 'shop', 'web-on-echo');
  });

  it('relists GRPCRoutes after 410 Gone', async () => {
    const gone = api.gone;
    api.compact();
    api.dropWatches();
    api.apply(GRPC_ROUTES, grpcRoute('after-gone', unary(70)));
    await waitFor(() => echoRouting()?.rules[0]?.source === 'GRPCRoute shop/after-gone rule 0' && echoRouting()?.rules[0]?.backends[1]?.weight === 70, 'a route created across a relist');
    assert.ok(api.gone > gone, 'a watch resumed from a compacted resourceVersion and got 410 Gone');
    await waitFor(() => condition(GRPC_ROUTES, 'after-gone', 'Accepted')?.status === 'True', 'its status');
  });
});

describe('Kubernetes source: a cluster without the GRPCRoute CRD', () => {
  const api = new FakeKubeApi();
  let control: ControlPlane;
  const { log, lines } = capturingLog();

  before(async () => {
    await api.start();
    api.uninstall(GRPC_ROUTES);
    api.apply(SERVICES, service('echo', '10.96.0.30'));
    api.apply(SERVICES, service('echo-v2', '10.96.0.31'));
    api.apply(HTTP_ROUTES, httpRoute('web-on-echo'));
    control = await startControlPlane({ kubernetes: { kubeconfig: kubeconfigFor(api) }, identity: false, log });
  });

  after(async () => {
    await control?.stop();
    await api.stop();
  });

  it('routes by HTTPRoutes, says once that GRPCRoutes are not watched, retries, and watches them once installed', async () => {
    await waitFor(() => (api.get(HTTP_ROUTES, 'shop', 'web-on-echo')?.status as { parents?: unknown[] } | undefined)?.parents?.length === 1, 'the HTTPRoute status');
    await waitFor(() => (api.notFound.get(GRPC_ROUTES) ?? 0) >= 2, 'a second list of grpcroutes after the backoff');
    const said = lines.filter((l) => l.includes('GRPCRoutes are not watched'));
    assert.equal(said.length, 1, lines.join('\n'));
    assert.equal(lines.filter((l) => /informer failed; restarting/.test(l) && l.includes('GRPCRoute')).length, 0);
    api.install(GRPC_ROUTES);
    api.apply(GRPC_ROUTES, grpcRoute('echo-split', unary(10)));
    await waitFor(() => ((api.get(GRPC_ROUTES, 'shop', 'echo-split')?.status as { parents?: unknown[] } | undefined)?.parents?.length ?? 0) === 1, 'the GRPCRoute status once installed', 15_000);
    await waitFor(() => ((api.get(HTTP_ROUTES, 'shop', 'web-on-echo')?.status as { parents?: ParentStatus[] } | undefined)?.parents?.[0]?.conditions[0]?.reason) === 'Conflicted', 'the HTTPRoute now Conflicted');
  });
});
