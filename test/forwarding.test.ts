// The sidecar's HTTP/1.1 data plane against real upstreams: routing, header hygiene and the
// protocol corners (chunked, trailers, 100-continue, HEAD, 204, 304), through real processes.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { echoHandler, startUpstream, type Upstream } from './harness/upstream.ts';

describe('forwarding through a sidecar pair', () => {
  let app: Upstream;
  let outside: Upstream;
  let client: SidecarHandle; // the caller's sidecar (outbound side)
  let server: SidecarHandle; // the payments sidecar (inbound side)

  before(async () => {
    app = await startUpstream((req, res) => {
      const url = req.url ?? '/';
      if (url === '/no-content') { res.writeHead(204); res.end(); return; }
      if (url === '/not-modified') { res.writeHead(304, { etag: '"v1"' }); res.end(); return; }
      if (url === '/trailers') {
        res.writeHead(200, { trailer: 'x-checksum', 'content-type': 'text/plain' });
        res.write('part one;');
        res.write('part two');
        res.addTrailers({ 'x-checksum': 'abc123' });
        res.end();
        return;
      }
      if (url === '/hop') {
        res.writeHead(200, { connection: 'x-secret, keep-alive', 'x-secret': 'drop me', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'x-kept': 'yes' });
        res.end('hop');
        return;
      }
      if (req.method === 'HEAD') { res.writeHead(200, { 'content-length': '1234', 'x-head': '1' }); res.end(); return; }
      echoHandler(req, res);
    });
    outside = await startUpstream((req, res) => res.end(`outside saw ${req.headers.host} ${req.url}`));
    server = await startSidecar({ service: 'payments', app: app.address, config: snapshot(1, []) });
    client = await startSidecar({
      service: 'web',
      config: snapshot(1, [{ name: 'payments', endpoints: [`127.0.0.1:${server.inboundPort}`] }]),
    });
  });

  after(async () => {
    await Promise.all([client?.stop('SIGKILL'), server?.stop('SIGKILL')]);
    await Promise.all([app?.close(), outside?.close()]);
  });

  it('routes by Host header through outbound and inbound sidecars to the app', async () => {
    const reply = await call(client.outboundPort, { path: '/v1/charge?amount=5', headers: { host: 'payments' } });
    assert.equal(reply.status, 200);
    const seen = JSON.parse(reply.body);
    assert.equal(seen.url, '/v1/charge?amount=5');
    assert.equal(seen.headers.host, 'payments');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1, 127.0.0.1', 'each hop appends its client');
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.match(seen.headers['x-request-id'], /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-petrel-peer'], undefined, 'the peer header never reaches the app');
  });

  it('routes absolute-form proxy requests (HTTP_PROXY) and qualified service names', async () => {
    const proxied = await call(client.outboundPort, { path: 'http://payments.default.svc.cluster.local:8080/p', headers: { host: 'ignored' } });
    assert.equal(proxied.status, 200);
    const seen = JSON.parse(proxied.body);
    assert.equal(seen.url, '/p');
    assert.equal(seen.headers.host, 'payments.default.svc.cluster.local:8080', 'the request-line authority wins over Host');
  });

  it('propagates an existing x-request-id and appends to x-forwarded-for', async () => {
    const reply = await call(client.outboundPort, { headers: { host: 'payments', 'x-request-id': 'req-42', 'x-forwarded-for': '10.1.2.3' } });
    const seen = JSON.parse(reply.body);
    assert.equal(seen.headers['x-request-id'], 'req-42');
    assert.equal(seen.headers['x-forwarded-for'], '10.1.2.3, 127.0.0.1, 127.0.0.1');
  });

  it('removes hop-by-hop headers and the headers named in Connection, both ways', async () => {
    const reply = await call(client.outboundPort, {
      path: '/',
      headers: { host: 'payments', connection: 'x-private, keep-alive', 'x-private': 'secret', 'proxy-authorization': 'Basic x', te: 'trailers', 'x-public': 'ok' },
    });
    const seen = JSON.parse(reply.body);
    assert.equal(seen.headers['x-private'], undefined);
    assert.equal(seen.headers['proxy-authorization'], undefined);
    assert.equal(seen.headers['x-public'], 'ok');
    assert.equal(seen.headers.te, 'trailers', 'TE: trailers is the one TE value kept');
    const hop = await call(client.outboundPort, { path: '/hop', headers: { host: 'payments' } });
    assert.equal(hop.body, 'hop');
    assert.equal(hop.headers['x-secret'], undefined);
    assert.equal(hop.headers['proxy-authenticate'], undefined);
    assert.equal(hop.headers['x-kept'], 'yes');
  });

  it('streams chunked request bodies and response trailers', async () => {
    // Bodies up to 64 KiB are buffered so that a retry could resend them; a larger one streams.
    const up = await call(client.outboundPort, { method: 'POST', path: '/upload', headers: { host: 'payments' }, chunks: ['a'.repeat(1000), 'b'.repeat(70_000), 'c'], chunkGapMs: 30 });
    assert.equal(JSON.parse(up.body).bytes, 71_001);
    assert.equal(JSON.parse(up.body).headers['transfer-encoding'], 'chunked', 'a large body still streaming is forwarded chunked');
    const small = await call(client.outboundPort, { method: 'POST', path: '/upload', headers: { host: 'payments' }, chunks: ['x'.repeat(10), 'y'], chunkGapMs: 30 });
    assert.equal(JSON.parse(small.body).bytes, 11);
    const down = await call(client.outboundPort, { path: '/trailers', headers: { host: 'payments' } });
    assert.equal(down.body, 'part one;part two');
    assert.equal(down.trailers['x-checksum'], 'abc123');
  });

  it('answers HEAD, 204 and 304 without a body', async () => {
    const head = await call(client.outboundPort, { method: 'HEAD', path: '/', headers: { host: 'payments' } });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '1234');
    assert.equal(head.body, '');
    const noContent = await call(client.outboundPort, { path: '/no-content', headers: { host: 'payments' } });
    assert.equal(noContent.status, 204);
    assert.equal(noContent.body, '');
    const notModified = await call(client.outboundPort, { path: '/not-modified', headers: { host: 'payments', 'if-none-match': '"v1"' } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.etag, '"v1"');
  });

  it('handles Expect: 100-continue', async () => {
    const result = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
      let continued = false;
      const req = httpRequest({ host: '127.0.0.1', port: client.outboundPort, method: 'PUT', path: '/c', agent: false,
        headers: { host: 'payments', expect: '100-continue', 'content-length': '5' } });
      req.on('continue', () => { continued = true; req.end('hello'); });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => { body += d.toString(); });
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
    });
    assert.ok(result.continued, 'the client got 100 Continue before sending its body');
    assert.equal(result.status, 200);
    assert.equal(JSON.parse(result.body).bytes, 5);
    assert.equal(JSON.parse(result.body).headers.expect, undefined);
  });

  it('passes unknown hosts through to their original destination', async () => {
    const reply = await call(client.outboundPort, { path: '/x', headers: { host: `127.0.0.1:${outside.port}` } });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, `outside saw 127.0.0.1:${outside.port} /x`);
    assert.equal(await client.metric('petrel_requests_total', { peer_service: 'passthrough', code: '200' }), 1);
  });

  it('refuses a passthrough loop into its own outbound listener with NR', async () => {
    const reply = await call(client.outboundPort, { headers: { host: `127.0.0.1:${client.outboundPort}` } });
    assert.equal(reply.status, 404);
    assert.equal(reply.headers['petrel-error'], 'NR');
    assert.equal(JSON.parse(reply.body).error, 'NR');
  });

  it('counts requests with the contract labels on both sides', async () => {
    const before = await client.metric('petrel_requests_total', { direction: 'outbound', service: 'web', peer_service: 'payments', route: 'default', method: 'GET', code: '200', flags: '-' });
    await call(client.outboundPort, { headers: { host: 'payments' } });
    const afterOut = await client.metric('petrel_requests_total', { direction: 'outbound', service: 'web', peer_service: 'payments', route: 'default', method: 'GET', code: '200', flags: '-' });
    assert.equal(afterOut - before, 1);
    assert.ok(await server.metric('petrel_requests_total', { direction: 'inbound', service: 'payments', peer_service: 'web', code: '200' }) >= 1);
    assert.ok(await server.metric('petrel_request_duration_seconds_count', { direction: 'inbound', service: 'payments', peer_service: 'web', route: 'default' }) >= 1);
  });
});
