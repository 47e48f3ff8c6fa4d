// The AuthorizeStep in the compiled inbound chain, in process: it runs first (a denied call spends
// no rate-limit token and never reaches the app), answers 403 RBAC with the JSON body, counts
// petrel_authz_denied_total and lets an allowed identity through.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { AccessSpec, Snapshot } from '../../api/types.ts';
import { FakeClock } from '../../test/harness/fake-clock.ts';
import { RecordedResponse, ScriptedUpstreams } from '../../test/harness/in-process.ts';
import { ConfigStore } from '../config/config-store.ts';
import { matchInboundRoute } from '../config/compiled.ts';
import { parseSpiffe } from '../identity/spiffe.ts';
import { SeededRandom } from '../policy/clock.ts';
import { PolicyStateRegistry } from '../policy/policy-state.ts';
import { Exchange } from '../proxy/exchange.ts';
import { upstreamHeaders } from '../proxy/headers.ts';
import { SidecarMetrics } from '../telemetry/metrics.ts';
import { EndpointStateRegistry } from '../upstream/endpoint-state.ts';
import type { ChainEnvironment } from './step.ts';

const checkout = parseSpiffe('spiffe://cluster.local/ns/shop/sa/checkout')!;

function inbound(access: AccessSpec | undefined, rateLimit?: { requestsPerSecond: number; burst: number }) {
  const clock = new FakeClock(1_000);
  const random = new SeededRandom(7);
  const upstreams = new ScriptedUpstreams();
  const metrics = new SidecarMetrics(() => 0);
  const events: string[] = [];
  const attributes: Record<string, unknown> = {};
  const env: ChainEnvironment = { clock, random, log: pino({ level: 'silent' }), draining: () => false, tracing: undefined };
  const store = new ConfigStore({
    self: { service: 'payments', namespace: 'shop' }, app: '10.0.0.9:8080', pools: upstreams.registry(),
    endpointStates: new EndpointStateRegistry(clock, random, { onCreated() {}, onTransition() {} }),
    policyStates: new PolicyStateRegistry(), metrics, env,
  });
  const snapshot: Snapshot = {
    apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1, services: [],
    inbound: { ...(rateLimit ? { policy: { rateLimit } } : {}), ...(access ? { access } : {}) },
  };
  store.apply(snapshot, { kind: 'file', name: 'test' });
  const request = (init: { method?: string; path?: string; peer?: typeof checkout; span?: boolean } = {}) => {
    const method = init.method ?? 'GET';
    const rawHeaders = ['host', 'payments'];
    const req = Object.assign(new EventEmitter(), { method, url: init.path ?? '/', rawHeaders, headers: { host: 'payments' }, socket: { remoteAddress: '127.0.0.1' }, destroyed: false }) as unknown as IncomingMessage;
    const res = new RecordedResponse(method);
    const exchange = new Exchange(req, res as unknown as ServerResponse, { onExchangeDone() {} });
    exchange.prepare(upstreamHeaders(rawHeaders, '127.0.0.1', false));
    if (init.peer !== undefined) {
      exchange.tls = true;
      exchange.peerIdentity = init.peer;
    }
    if (init.span === true) {
      exchange.span = { addEvent: (e: string) => events.push(e), setAttribute: (k: string, v: unknown) => { attributes[k] = v; } } as never;
      env.tracing = { decision() {} } as never;
    }
    matchInboundRoute(store.current!.inbound, method, exchange.path)!.chain.run(exchange);
    return { exchange, res };
  };
  const denied = async (peer: string) => Number((await metrics.authzDenied.get()).values.find((v) => v.labels.service === 'payments' && v.labels.peer_service === peer)?.value ?? 0);
  return { request, upstreams, denied, events, attributes };
}

describe('AuthorizeStep in the inbound chain', () => {
  it('rules present: a plaintext caller gets 403 RBAC with the JSON body, the app sees nothing', async () => {
    const mesh = inbound({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout'] } }] });
    const { exchange, res } = mesh.request({ path: '/v1/pay?x=1' });
    assert.equal(res.statusCode, 403);
    assert.equal(res.headers['petrel-error'], 'RBAC');
    assert.deepEqual(JSON.parse(res.body), { error: 'RBAC', code: 'ACCESS_DENIED', message: 'a plaintext caller is not allowed to call GET on payments by its AccessPolicy' });
    assert.equal(exchange.flags, 'RBAC');
    assert.equal(mesh.upstreams.calls.length, 0);
    assert.equal(await mesh.denied('unknown'), 1);
  });

  it('lets an allowed identity through to the app', () => {
    const mesh = inbound({ mtls: 'strict', rules: [{ from: { serviceAccounts: ['checkout'] }, to: { paths: ['/v1/'] } }] });
    mesh.request({ peer: checkout, path: '/v1/pay' });
    assert.equal(mesh.upstreams.take().length, 1);
  });

  it('names the caller identity and counts its service account when it is denied', async () => {
    const mesh = inbound({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout'] }, to: { methods: ['GET'] } }] });
    const { res } = mesh.request({ peer: checkout, method: 'DELETE' });
    assert.equal(res.statusCode, 403);
    assert.match(JSON.parse(res.body).message, /^spiffe:\/\/cluster\.local\/ns\/shop\/sa\/checkout is not allowed to call DELETE on payments/);
    assert.equal(await mesh.denied('checkout'), 1);
  });

  it('mtls: strict refuses plaintext with its own message', () => {
    const mesh = inbound({ mtls: 'strict' });
    const { res } = mesh.request();
    assert.equal(res.statusCode, 403);
    assert.equal(JSON.parse(res.body).message, 'mutual TLS is required; plaintext callers are refused');
    assert.equal(mesh.upstreams.calls.length, 0);
  });

  it('runs before the rate limit: denied calls spend no token', () => {
    const mesh = inbound({ mtls: 'permissive', rules: [{ from: { serviceAccounts: ['checkout'] } }] }, { requestsPerSecond: 1, burst: 1 });
    for (let i = 0; i < 5; i++) assert.equal(mesh.request().res.statusCode, 403);
    mesh.request({ peer: checkout });
    assert.equal(mesh.upstreams.take().length, 1, 'the one token was still there for the allowed caller');
    assert.equal(mesh.request({ peer: checkout }).res.headers['petrel-error'], 'RL');
  });

  it('marks the SERVER span: an access_denied event and the result', () => {
    const mesh = inbound({ mtls: 'permissive', rules: [] });
    mesh.request({ peer: checkout, span: true });
    assert.deepEqual(mesh.events, ['access_denied']);
    assert.deepEqual(mesh.attributes, { 'petrel.authz.result': 'denied' });
  });

  it('permissive with no rules adds no step at all', () => {
    const mesh = inbound({ mtls: 'permissive' });
    mesh.request();
    assert.equal(mesh.upstreams.take().length, 1);
  });
});
