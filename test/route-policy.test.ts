// Policies that target an HTTPRoute or one of its rules (targetRef group gateway.networking.k8s.io,
// kind HTTPRoute, sectionName), end to end on loopback with a control plane that issues certificates:
// - a ResiliencePolicy on one rule retries that rule's calls and no other's, on top of a policy on the
//   whole route and the Service's own, and /config_dump names the source of every value;
// - an AccessPolicy on one rule is enforced by the backend's sidecar (after the rule's URLRewrite),
//   by the caller's certificate: the allowed service account gets through, another gets 403 RBAC, and
//   a call straight to the backend that dodges the route is guarded all the same.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, type Reply } from './harness/client.ts';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const ROUTE = [
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: HTTPRoute',
  'metadata: { name: orders, namespace: default }',
  'spec:',
  '  parentRefs: [{ group: "", kind: Service, name: orders, port: 80 }]',
  '  rules:',
  '    - name: writes',
  '      matches: [{ path: { type: PathPrefix, value: /write } }]',
  '      backendRefs: [{ name: orders, port: 80 }]',
  '    - name: reads',
  '      matches: [{ path: { type: PathPrefix, value: /read } }]',
  '      backendRefs: [{ name: orders, port: 80 }]',
  '    - name: admin',
  '      matches: [{ path: { type: PathPrefix, value: /admin } }]',
  '      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /internal } } }]',
  '      backendRefs: [{ name: orders, port: 80 }]',
  '',
].join('\n');

const POLICIES = [
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  'metadata: { name: orders, namespace: default }',
  'spec:',
  '  targetRef: { kind: Service, name: orders }',
  '  timeout: { total: 5s }',
  '  retry: { attempts: 1 }',
  '---',
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  'metadata: { name: orders-route, namespace: default }',
  'spec:',
  '  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: orders }',
  '  timeout: { perTry: 2s }',
  '---',
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  'metadata: { name: orders-writes, namespace: default }',
  'spec:',
  '  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: orders, sectionName: writes }',
  '  retry: { attempts: 3, on: [gateway-error], backoff: { base: 1ms, max: 2ms } }',
  '---',
  'apiVersion: petrel.dev/v1alpha1',
  'kind: AccessPolicy',
  'metadata: { name: orders-admin, namespace: default }',
  'spec:',
  '  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: orders, sectionName: admin }',
  '  rules: [{ from: { serviceAccounts: [ops] } }]',
  '',
].join('\n');

interface SourcedValue { value: unknown; source: string }
interface Dump {
  services: { id: string; policy: Record<string, SourcedValue>; httpRoutes: { rules: { name: string; policy: Record<string, SourcedValue> }[] } | null }[];
  snapshot: { inbound?: { access?: { scoped?: unknown[] } } } | null;
}

describe('policies on HTTPRoute rules (targetRef sectionName)', () => {
  let control: ControlHandle;
  let orders: SidecarHandle;
  let web: SidecarHandle;
  let ops: SidecarHandle;
  let app: Upstream;
  let dir: string;
  /** Paths the app saw, and how often each was tried. */
  const tries = new Map<string, number>();

  const send = (from: SidecarHandle, path: string): Promise<Reply> => call(from.outboundPort, { path, headers: { host: 'orders' } });
  const dump = async (s: SidecarHandle): Promise<Dump> => (await (await s.admin('/config_dump')).json()) as Dump;

  before(async () => {
    // The first try of every /flaky path fails with 503; the next succeeds.
    app = await startUpstream((req, res) => {
      const path = req.url ?? '';
      const n = (tries.get(path) ?? 0) + 1;
      tries.set(path, n);
      res.statusCode = path.includes('/flaky') && n === 1 ? 503 : 200;
      res.end(path);
    });
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'route.yaml'), ROUTE);
    writeFileSync(join(dir, 'policies.yaml'), POLICIES);
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s', '--cert-ttl', '1h'] });
    const args = ['--control', control.streamUrl];
    orders = await startSidecar({ service: 'orders', app: app.address, args });
    web = await startSidecar({ service: 'web', args });
    ops = await startSidecar({ service: 'ops', args });
    await waitFor(async () => (await send(web, '/read/ready')).status === 200 && (await send(ops, '/read/ready')).status === 200, 'both callers reach orders over mTLS');
    await waitFor(async () => ((await dump(orders)).snapshot?.inbound?.access?.scoped?.length ?? 0) === 1, 'the admin scope at the orders sidecar');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), ops?.stop('SIGKILL'), orders?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('a ResiliencePolicy on the writes rule retries its calls; the reads rule keeps the Service\'s no-retry policy', async () => {
    const write = await send(web, '/write/flaky/1');
    assert.equal(write.status, 200, write.body);
    assert.equal(tries.get('/write/flaky/1'), 2, 'tried twice');
    const read = await send(web, '/read/flaky/1');
    assert.equal(read.status, 503);
    assert.equal(tries.get('/read/flaky/1'), 1, 'not retried');
    assert.equal(await web.metric('petrel_retries_total', { peer_service: 'orders', route: 'writes' }), 1);
  });

  it('/config_dump names the source of each value: rule policy, route policy, Service policy, built-in', async () => {
    const file = join(dir, 'policies.yaml');
    const service = (await dump(web)).services.find((s) => s.id === 'orders.default')!;
    const writes = service.httpRoutes!.rules.find((r) => r.name === 'writes')!.policy;
    assert.deepEqual(writes['retry.attempts'], { value: 3, source: `ResiliencePolicy default/orders-writes in ${file} (document 3)` });
    assert.deepEqual(writes['timeout.perTry'], { value: '2s', source: `ResiliencePolicy default/orders-route in ${file} (document 2)` });
    assert.deepEqual(writes['timeout.total'], { value: '5s', source: `ResiliencePolicy default/orders in ${file} (document 1)` });
    assert.deepEqual(writes['timeout.connect'], { value: '1000ms', source: 'built-in' });
    const reads = service.httpRoutes!.rules.find((r) => r.name === 'reads')!.policy;
    assert.deepEqual(reads['retry.attempts'], { value: 1, source: `ResiliencePolicy default/orders in ${file} (document 1)` });
    assert.deepEqual(service.policy['retry.attempts'], { value: 1, source: `ResiliencePolicy default/orders in ${file} (document 1)` });
    assert.equal(service.policy['timeout.perTry']!.source, 'built-in', 'the route policy is not the Service\'s');
  });

  it('an AccessPolicy on the admin rule: ops gets through (rewritten to /internal), web gets 403 RBAC from the orders sidecar', async () => {
    const allowed = await send(ops, '/admin/keys');
    assert.equal(allowed.status, 200, allowed.body);
    assert.equal(allowed.body, '/internal/keys');
    const before = tries.get('/internal/keys');
    const denied = await send(web, '/admin/keys');
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.headers['petrel-error'], 'RBAC');
    assert.match(JSON.parse(denied.body).message, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/web is not allowed to make this call to orders by the AccessPolicy of the route rule it matches/);
    assert.equal(tries.get('/internal/keys'), before, 'the app never saw it');
    assert.equal((await send(web, '/read/x')).status, 200, 'other rules are not guarded');
    assert.equal(await orders.metric('petrel_authz_denied_total', { service: 'orders', peer_service: 'web' }), 1);
  });

  it('a call straight to the orders sidecar that dodges the route is guarded too', async () => {
    const direct = await call(orders.inboundPort, { path: '/internal//keys', headers: { host: 'orders' } });
    assert.equal(direct.status, 403, direct.body);
    assert.equal((await call(orders.inboundPort, { path: '/read/x', headers: { host: 'orders' } })).status, 200);
  });

  it('a ResiliencePolicy on a route that sets a breaker is refused by name; the last good policies stay', async () => {
    writeFileSync(join(dir, 'bad.yaml'), [
      'apiVersion: petrel.dev/v1alpha1',
      'kind: ResiliencePolicy',
      'metadata: { name: bad, namespace: default }',
      'spec:',
      '  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: orders, sectionName: reads }',
      '  circuitBreaker: { consecutiveFailures: 1 }',
      '',
    ].join('\n'));
    await waitFor(async () => (await control.status()).policies.rejected.some((r) => r.errors.some((e) => e.includes('spec.circuitBreaker: cannot be set by a policy on a route (HTTPRoute)'))), 'the refusal in the control plane\'s status');
    const read = await send(web, '/read/flaky/2');
    assert.equal(read.status, 503, 'still no retry on reads');
  });
});
