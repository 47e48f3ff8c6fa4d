// Traces end to end: one request through two sidecars with one retry, exported over OTLP/HTTP to a
// receiver inside the test, forms one trace whose spans link parent to child.
import assert from 'node:assert/strict';
import { connect as h2connect, createServer as createH2Server, type Http2Server } from 'node:http2';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { attr, CLIENT, SERVER, startOtlpReceiver, type OtlpReceiver, type OtlpSpan } from './harness/otlp-receiver.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

describe('tracing', () => {
  let receiver: OtlpReceiver;
  let spans: OtlpSpan[];
  let app: Upstream;
  let inbound: SidecarHandle;
  let outbound: SidecarHandle;
  const seenByApp: string[] = [];

  before(async () => {
    receiver = await startOtlpReceiver();
    spans = receiver.spans;
    const endpoint = receiver.endpoint;
    let first = true;
    app = await startUpstream((req, res) => {
      seenByApp.push(req.headers.traceparent as string);
      if (first) { first = false; res.writeHead(503); res.end('once'); return; }
      res.end('ok');
    });
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_TRACES_SAMPLER_ARG: '1' };
    inbound = await startSidecar({ service: 'payments', app: app.address, config: snapshot(1, []), env });
    outbound = await startSidecar({
      service: 'web', env,
      // An HTTPRoute rule named "charge" takes /v1 (its name is the spans' petrel.route).
      config: snapshot(1, [{
        name: 'payments', endpoints: [`127.0.0.1:${inbound.inboundPort}`], policy: { retry: { attempts: 2, on: ['gateway-error'] } },
        routing: {
          matches: [{ match: { path: { type: 'PathPrefix', value: '/v1' } }, rule: 0 }],
          rules: [{ name: 'charge', source: 'HTTPRoute default/payments rule 0', backends: [{ service: 'payments', namespace: 'default', weight: 1 }] }],
        },
      }]),
    });
  });

  after(async () => {
    await Promise.all([outbound?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    await app?.close();
    receiver?.close();
  });

  it('links the client, both attempts, both inbound SERVER spans and the app in one trace', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const rootSpan = '00f067aa0ba902b7';
    const reply = await call(outbound.outboundPort, { path: '/v1/charge?x=1', headers: { host: 'payments', traceparent: `00-${traceId}-${rootSpan}-01` } });
    assert.equal(reply.status, 200);
    await receiver.waitFor(4);
    const clients = spans.filter((s) => s.kind === CLIENT).sort((a, b) => Number(attr(a, 'http.request.resend_count') ?? 0) - Number(attr(b, 'http.request.resend_count') ?? 0));
    const servers = spans.filter((s) => s.kind === SERVER);
    assert.equal(clients.length, 2, 'one CLIENT span per attempt');
    assert.equal(servers.length, 2, 'one SERVER span per inbound request');
    for (const s of spans) assert.equal(s.traceId, traceId, 'one trace');
    for (const c of clients) {
      assert.equal(c.parentSpanId, rootSpan, 'attempts are children of the caller\'s span');
      assert.equal(c.service, 'web-sidecar');
      assert.equal(attr(c, 'http.request.method'), 'GET');
      assert.equal(attr(c, 'url.path'), '/v1/charge');
      assert.equal(attr(c, 'petrel.route'), 'charge', 'the rule\'s name (GEP-995), as on the route metric label');
    }
    assert.equal(attr(clients[0]!, 'http.request.resend_count'), undefined);
    assert.equal(attr(clients[0]!, 'http.response.status_code'), 503);
    assert.equal(attr(clients[0]!, 'error.type'), '503');
    assert.equal(attr(clients[1]!, 'http.request.resend_count'), 1, 'the retry is its own span');
    assert.equal(attr(clients[1]!, 'http.response.status_code'), 200);
    assert.deepEqual(servers.map((s) => s.parentSpanId).sort(), clients.map((c) => c.spanId).sort(), 'each SERVER span is the child of its attempt');
    for (const s of servers) assert.equal(s.service, 'payments-sidecar');
    assert.deepEqual(seenByApp.map((tp) => tp.split('-')[2]).sort(), servers.map((s) => s.spanId).sort(), 'the app sees the SERVER span as its parent');
    assert.ok(seenByApp.every((tp) => tp.startsWith(`00-${traceId}-`)));
  });
});

describe('tracing a gRPC call', () => {
  let receiver: OtlpReceiver;
  let app: Http2Server;
  let inbound: SidecarHandle;
  let outbound: SidecarHandle;

  before(async () => {
    receiver = await startOtlpReceiver();
    // A gRPC app on node:http2 that answers NOT_FOUND in its trailers, after a message.
    app = createH2Server();
    app.on('stream', (stream) => {
      stream.resume();
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'no such order' }));
        stream.end(Buffer.from([0, 0, 0, 0, 2, 0x6f, 0x6b]));
      });
    });
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_TRACES_SAMPLER_ARG: '1' };
    inbound = await startSidecar({ service: 'orders', app: `127.0.0.1:${(app.address() as { port: number }).port}`, config: snapshot(1, []), env });
    outbound = await startSidecar({ service: 'web', env, config: snapshot(1, [{ name: 'orders', endpoints: [`127.0.0.1:${inbound.inboundPort}`] }]) });
  });

  after(async () => {
    await Promise.all([outbound?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    app?.close();
    receiver?.close();
  });

  it('gives the CLIENT and SERVER spans the RPC attributes and the status from the trailers', async () => {
    const session = h2connect(`http://127.0.0.1:${outbound.outboundPort}`);
    const status = await new Promise<string | undefined>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/shop.v1.Orders/Get', ':authority': 'orders', 'content-type': 'application/grpc', te: 'trailers' });
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
      stream.resume();
      stream.on('trailers', (t) => resolve(t['grpc-status'] as string | undefined));
      stream.on('error', reject);
    });
    session.close();
    assert.equal(status, '5');
    await receiver.waitFor(2);
    const client = receiver.spans.find((s) => s.kind === CLIENT);
    const server = receiver.spans.find((s) => s.kind === SERVER);
    for (const span of [client, server]) {
      assert.ok(span !== undefined);
      assert.equal(attr(span, 'rpc.system'), 'grpc');
      assert.equal(attr(span, 'rpc.service'), 'shop.v1.Orders');
      assert.equal(attr(span, 'rpc.method'), 'Get');
      assert.equal(attr(span, 'rpc.grpc.status_code'), 5);
      assert.equal(attr(span, 'http.response.status_code'), 200);
    }
  });
});
