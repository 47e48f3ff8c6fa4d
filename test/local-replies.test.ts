// Every response the sidecar makes itself carries `petrel-error: <flag>` and a JSON body, and is
// counted with that flag: connect failures, resets, timeouts, no route, no endpoints.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { call, rawExchange, type Reply } from './harness/client.ts';
import { freePort, snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

function assertLocalReply(reply: Reply, status: number, flag: string): void {
  assert.equal(reply.status, status, reply.body);
  assert.equal(reply.headers['petrel-error'], flag);
  assert.equal(reply.headers['content-type'], 'application/json');
  const body = JSON.parse(reply.body);
  assert.equal(body.error, flag);
  assert.equal(typeof body.message, 'string');
  assert.ok(body.message.length > 0);
}

describe('locally generated responses', () => {
  let resetter: Upstream;
  let hanger: Upstream;
  let midstream: Upstream;
  let sidecar: SidecarHandle;
  let appless: SidecarHandle;
  let deadPort: number;

  before(async () => {
    deadPort = await freePort(); // nothing listens here
    resetter = await startUpstream((req) => req.socket.destroy());
    hanger = await startUpstream(() => { /* never answers */ });
    midstream = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write('x'.repeat(1000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    sidecar = await startSidecar({
      service: 'web',
      app: `127.0.0.1:${deadPort}`,
      config: snapshot(1, [
        { name: 'dead', endpoints: [`127.0.0.1:${deadPort}`] },
        { name: 'resetter', endpoints: [resetter.address] },
        { name: 'midstream', endpoints: [midstream.address] },
        { name: 'hanger', endpoints: [hanger.address], policy: { timeout: { perTry: '200ms' } } },
        { name: 'slow-total', endpoints: [hanger.address], policy: { timeout: { total: '300ms' } } },
        { name: 'empty', endpoints: [] },
      ]),
    });
    appless = await startSidecar({ service: 'lonely', config: snapshot(1, []) });
  });

  after(async () => {
    await Promise.all([sidecar?.stop('SIGKILL'), appless?.stop('SIGKILL')]);
    await Promise.all([resetter?.close(), hanger?.close(), midstream?.close()]);
  });

  it('UF 503 when the endpoint refuses the connection', async () => {
    assertLocalReply(await call(sidecar.outboundPort, { headers: { host: 'dead' } }), 503, 'UF');
    assert.equal(await sidecar.metric('petrel_requests_total', { peer_service: 'dead', code: '503', flags: 'UF' }), 1);
  });

  it('UF 503 on the inbound side when the local app is down', async () => {
    assertLocalReply(await call(sidecar.inboundPort, { headers: { host: 'web' } }), 503, 'UF');
    assert.equal(await sidecar.metric('petrel_requests_total', { direction: 'inbound', code: '503', flags: 'UF' }), 1);
  });

  it('UC 502 when the upstream resets before answering', async () => {
    assertLocalReply(await call(sidecar.outboundPort, { headers: { host: 'resetter' } }), 502, 'UC');
  });

  it('cuts the downstream stream when the upstream resets mid-body, and flags UC', async () => {
    await assert.rejects(call(sidecar.outboundPort, { headers: { host: 'midstream' } }), /aborted|socket hang up|ECONNRESET/);
    await waitFor(async () => (await sidecar.metric('petrel_requests_total', { peer_service: 'midstream', flags: 'UC' })) === 1, 'the UC flag in the metrics');
  });

  it('UT 504 when no response arrives within the per-try timeout', async () => {
    const started = Date.now();
    assertLocalReply(await call(sidecar.outboundPort, { headers: { host: 'hanger' } }), 504, 'UT');
    assert.ok(Date.now() - started >= 190, 'not before the timeout');
  });

  it('UT 504 when the total timeout passes', async () => {
    assertLocalReply(await call(sidecar.outboundPort, { headers: { host: 'slow-total' } }), 504, 'UT');
  });

  it('UH 503 when the service has no endpoints', async () => {
    assertLocalReply(await call(sidecar.outboundPort, { headers: { host: 'empty' } }), 503, 'UH');
  });

  it('DPE 400 when the request names no host: a client mistake, not a missing route', async () => {
    const raw = await rawExchange(sidecar.outboundPort, 'GET / HTTP/1.0\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.match(raw, /petrel-error: DPE/);
    assert.match(raw, /"error":"DPE"/);
  });

  it('NR 404 on the inbound side when there is no local app', async () => {
    assertLocalReply(await call(appless.inboundPort, { headers: { host: 'lonely' } }), 404, 'NR');
  });
});

