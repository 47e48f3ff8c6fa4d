// GRPCRoute (Gateway API, GEP-1016, GAMMA) end to end on loopback: a control plane with a GRPCRoute
// file in its policy directory, a calling sidecar, and two grpc-js backends each behind its own
// sidecar. A real grpc-js client calls Service "echo" through the caller's sidecar; the route picks
// the backend by gRPC method, by header, and by weight, and a call no rule matches fails UNIMPLEMENTED
// with petrel-error NR. The sidecar needs nothing gRPC-specific: the match is on the call's path.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGrpcApp, type GrpcApp } from './harness/grpc-app.ts';
import { EchoClient, type CallResult } from './harness/grpc-client.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const ROUTE = [
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: GRPCRoute',
  'metadata: { name: echo, namespace: default }',
  'spec:',
  '  parentRefs: [{ group: "", kind: Service, name: echo, port: 80 }]',
  '  rules:',
  '    - name: unary',
  '      matches: [{ method: { service: petrel.test.Echo, method: Unary } }]',
  '      backendRefs: [{ name: echo-a, port: 80 }]',
  '    - name: stream',
  '      matches: [{ method: { type: Exact, service: petrel.test.Echo, method: ServerStream } }]',
  '      backendRefs: [{ name: echo-b, port: 80 }]',
  '    - name: version-two',
  '      matches: [{ method: { service: petrel.test.Echo, method: Unary }, headers: [{ name: x-version, value: two }] }]',
  '      backendRefs: [{ name: echo-b, port: 80 }]',
  '    - name: split',
  '      matches: [{ method: { service: petrel.test.Echo, method: Unary }, headers: [{ name: x-split, value: "on" }] }]',
  '      backendRefs: [{ name: echo-a, port: 80, weight: 70 }, { name: echo-b, port: 80, weight: 30 }]',
  '',
].join('\n');

describe('GRPCRoute between sidecars (GAMMA)', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  let client: EchoClient;
  const apps = new Map<string, GrpcApp>();
  const sidecars: SidecarHandle[] = [];

  /** Which backend served the call (by its x-call-id), or undefined when none did. */
  const servedBy = (r: CallResult): string | undefined => [...apps].find(([, app]) => app.attempts(r.id).length > 0)?.[0];

  before(async () => {
    const dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'echo.yaml'), ROUTE);
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s', '--no-identity'] });
    for (const name of ['echo-a', 'echo-b']) {
      const app = await startGrpcApp();
      apps.set(name, app);
      sidecars.push(await startSidecar({ service: name, app: app.address, args: ['--control', control.streamUrl, '--access-log', 'off'] }));
    }
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl, '--access-log', 'off'] });
    client = new EchoClient(`127.0.0.1:${web.outboundPort}`, { authority: 'echo' });
    // Ready once both backends answer through the route (their endpoints reached the caller).
    await waitFor(async () => {
      const [u, s] = await Promise.all([client.unary(Buffer.from('ping')), client.serverStream(Buffer.from('ping'))]);
      return u.code === 0 && s.code === 0;
    }, 'web routes echo to both backends', 15_000);
  });

  after(async () => {
    client?.close();
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL'), ...sidecars.map((s) => s.stop('SIGKILL'))]);
    await Promise.all([...apps.values()].map((a) => a.close()));
  });

  it('a method match: Unary goes to echo-a, ServerStream to echo-b', async () => {
    for (let i = 0; i < 5; i++) {
      const u = await client.unary(Buffer.from(`u${i}`));
      assert.equal(u.code, 0, u.details);
      assert.equal(servedBy(u), 'echo-a');
      const s = await client.serverStream(Buffer.from(`s${i}`));
      assert.equal(s.code, 0, s.details);
      assert.equal(servedBy(s), 'echo-b');
    }
    // Rule names are the route label.
    assert.ok(await web.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'echo', route: 'unary' }) >= 5);
    assert.ok(await web.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'echo', route: 'stream' }) >= 5);
  });

  it('a header match outranks the same method without one', async () => {
    const two = await client.unary(Buffer.from('v2'), { metadata: { 'x-version': 'two' } });
    assert.equal(two.code, 0, two.details);
    assert.equal(servedBy(two), 'echo-b');
    const other = await client.unary(Buffer.from('v3'), { metadata: { 'x-version': 'three' } });
    assert.equal(servedBy(other), 'echo-a');
  });

  it('weights split the calls 70/30 within a binomial bound', async () => {
    const counts = new Map<string, number>();
    const n = 300;
    for (let i = 0; i < n; i++) {
      const r = await client.unary(Buffer.from(`w${i}`), { metadata: { 'x-split': 'on' } });
      assert.equal(r.code, 0, r.details);
      const name = servedBy(r)!;
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const a = counts.get('echo-a') ?? 0;
    const sigma = Math.sqrt(n * 0.7 * 0.3);
    assert.ok(Math.abs(a - n * 0.7) <= 4 * sigma, `echo-a got ${a} of ${n} (expected ${n * 0.7} ± ${Math.round(4 * sigma)})`);
  });

  it('a call no rule matches fails UNIMPLEMENTED (grpc-status 12) with petrel-error NR, and reaches no backend', async () => {
    const r = await client.pingPong([Buffer.from('x')]);
    assert.equal(r.code, 12, r.details);
    const flag = [...(r.trailers.get('petrel-error') ?? []), ...(r.headers?.get('petrel-error') ?? [])].map(String);
    assert.deepEqual(flag, ['NR']);
    assert.equal(servedBy(r), undefined);
  });
});
