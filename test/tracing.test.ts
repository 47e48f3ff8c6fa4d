// Traces end to end: one request through two sidecars with one retry, exported over OTLP/HTTP to a
// receiver inside the test, forms one trace whose spans link parent to child.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
  events?: { name: string }[];
  service: string;
}

const SERVER = 2;
const CLIENT = 3;
const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
};

describe('tracing', () => {
  let receiver: Server;
  const spans: OtlpSpan[] = [];
  let app: Upstream;
  let inbound: SidecarHandle;
  let outbound: SidecarHandle;
  const seenByApp: string[] = [];

  before(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
        for (const rs of doc.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const endpoint = `http://127.0.0.1:${(receiver.address() as { port: number }).port}`;
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
      config: snapshot(1, [{ name: 'payments', endpoints: [`127.0.0.1:${inbound.inboundPort}`], policy: { retry: { attempts: 2, on: ['gateway-error'] } } }]),
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
    const deadline = Date.now() + 10_000;
    while (spans.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
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
