// AccessPolicy enforcement by a real sidecar on a static --config snapshot (no control plane, no
// certificates): every caller here is plaintext, so it has no identity. With rules, only a rule
// without `from` can let it in; with `mtls: strict` nothing does. Denials are 403 RBAC with the JSON
// body (gRPC: trailers-only PERMISSION_DENIED), never reach the app, and are counted.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { startGrpcApp, type GrpcApp } from './harness/grpc-app.ts';
import { EchoClient } from './harness/grpc-client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const withAccess = (access: Record<string, unknown>) => snapshot(1, [], { inbound: { access } });

describe('AccessPolicy at the inbound sidecar', () => {
  let app: Upstream;
  let appCalls = 0;
  let grpcApp: GrpcApp;
  let ruled: SidecarHandle;
  let strict: SidecarHandle;
  let grpcSidecar: SidecarHandle;
  let client: EchoClient;

  before(async () => {
    app = await startUpstream((_req, res) => { appCalls++; res.end('ok'); });
    grpcApp = await startGrpcApp();
    [ruled, strict, grpcSidecar] = await Promise.all([
      startSidecar({ service: 'payments', app: app.address, config: withAccess({
        mtls: 'permissive',
        rules: [{ from: { serviceAccounts: ['web'] } }, { to: { paths: ['/public/'], methods: ['GET'] } }],
      }) }),
      startSidecar({ service: 'vault', app: app.address, config: withAccess({ mtls: 'strict' }) }),
      startSidecar({ service: 'echo', app: grpcApp.address, config: withAccess({ mtls: 'permissive', rules: [{ from: { namespaces: ['default'] } }] }) }),
    ]);
    client = new EchoClient(`127.0.0.1:${grpcSidecar.inboundPort}`, { authority: 'echo' });
  });

  after(async () => {
    client?.close();
    await Promise.all([ruled?.stop('SIGKILL'), strict?.stop('SIGKILL'), grpcSidecar?.stop('SIGKILL')]);
    await Promise.all([app?.close(), grpcApp?.close()]);
  });

  it('rules present: a plaintext caller gets 403 RBAC with the JSON body, and the app sees nothing', async () => {
    const before = appCalls;
    const reply = await call(ruled.inboundPort, { headers: { host: 'payments' }, path: '/v1/pay?amount=3' });
    assert.equal(reply.status, 403, reply.body);
    assert.equal(reply.headers['petrel-error'], 'RBAC');
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(reply.body), { error: 'RBAC', code: 'ACCESS_DENIED', message: 'a plaintext caller is not allowed to call GET on payments by its AccessPolicy' });
    assert.equal(appCalls, before);
  });

  it('a rule without from lets plaintext through, on its paths and methods only', async () => {
    const before = appCalls;
    assert.equal((await call(ruled.inboundPort, { headers: { host: 'payments' }, path: '/public/logo.png' })).status, 200);
    assert.equal(appCalls, before + 1);
    assert.equal((await call(ruled.inboundPort, { headers: { host: 'payments' }, path: '/public/logo.png', method: 'POST' })).status, 403);
    assert.equal((await call(ruled.inboundPort, { headers: { host: 'payments' }, path: '/public/../admin' })).status, 403, 'dot segments match no prefix');
    assert.equal(appCalls, before + 1);
  });

  it('counts denials in petrel_authz_denied_total{service, peer_service="unknown"} and flags the request metric', async () => {
    assert.equal(await ruled.metric('petrel_authz_denied_total', { service: 'payments', peer_service: 'unknown' }), 3);
    assert.equal(await ruled.metric('petrel_requests_total', { direction: 'inbound', code: '403', flags: 'RBAC' }), 3);
  });

  it('mtls: strict refuses plaintext before the app', async () => {
    const before = appCalls;
    const reply = await call(strict.inboundPort, { headers: { host: 'vault' } });
    assert.equal(reply.status, 403);
    assert.equal(reply.headers['petrel-error'], 'RBAC');
    assert.equal(JSON.parse(reply.body).message, 'mutual TLS is required; plaintext callers are refused');
    assert.equal(appCalls, before);
    assert.equal(await strict.metric('petrel_authz_denied_total', { service: 'vault', peer_service: 'unknown' }), 1);
  });

  it('gRPC: a denied call ends trailers-only with PERMISSION_DENIED and never reaches the app', async () => {
    const reply = await client.unary(Buffer.from('ping'));
    assert.equal(reply.code, status.PERMISSION_DENIED, reply.details);
    assert.match(reply.details, /a plaintext caller is not allowed to call POST on echo/);
    assert.equal(reply.headers, undefined, 'trailers-only');
    assert.deepEqual(reply.trailers.get('petrel-error'), ['RBAC']);
    assert.equal(grpcApp.calls.length, 0);
    assert.equal(await grpcSidecar.metric('petrel_authz_denied_total', { service: 'echo', peer_service: 'unknown' }), 1);
  });
});
