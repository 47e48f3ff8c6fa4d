// gRPC through a real sidecar pair: a @grpc/grpc-js client dials the caller sidecar's outbound
// listener (h2c, :authority = the mesh service), which forwards over HTTP/2 to callee sidecars whose
// apps are grpc-js servers. The four call types with metadata and trailers, exact errors, deadlines
// and cancellation reaching the server, local replies as gRPC statuses, and the grpc_status label.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { plain } from './harness/grpc-client.ts';
import { startGrpcMesh, type GrpcMesh } from './harness/grpc-mesh.ts';
import { waitFor } from './harness/wait.ts';

const bin = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);

describe('gRPC through a sidecar pair', () => {
  let mesh: GrpcMesh;

  before(async () => { mesh = await startGrpcMesh(); });
  after(async () => { await mesh?.stop(); });

  const app = () => mesh.apps[0]!;
  const only = (id: string) => {
    const attempts = app().attempts(id);
    assert.equal(attempts.length, 1, `the app saw ${attempts.length} attempts of ${id}`);
    return attempts[0]!;
  };

  it('unary: request metadata (text and -bin) reaches the app, response metadata and custom trailers come back', async () => {
    const reply = await mesh.client('echo').unary(Buffer.from('ping'), {
      metadata: { 'x-echo-text': 'hello', 'x-echo-data-bin': bin },
      script: { trailers: { 'x-checksum': 'abc123', 'x-blob-bin': bin.toString('base64') } },
    });
    assert.equal(reply.code, status.OK, reply.details);
    assert.deepEqual(reply.messages, [Buffer.from('ping')]);
    const seen = only(reply.id);
    assert.equal(seen.authority, 'echo');
    assert.deepEqual(seen.metadata.get('x-echo-text'), ['hello']);
    assert.deepEqual(seen.metadata.get('x-echo-data-bin'), [bin]);
    assert.deepEqual(plain(reply.headers), { 'x-echo-text': ['hello'], 'x-echo-data-bin': [bin.toString('base64')] });
    assert.deepEqual(plain(reply.trailers), { 'x-checksum': ['abc123'], 'x-blob-bin': [bin.toString('base64')], 'x-attempt': ['1'] });
  });

  it('server streaming, client streaming and bidi streaming carry every message in order, with trailers', async () => {
    const client = mesh.client('echo');
    const server = await client.serverStream(Buffer.from('x'), { script: { messages: 50, messageBytes: 1000, trailers: { 'x-end': 'stream' } } });
    assert.equal(server.code, status.OK, server.details);
    assert.equal(server.count, 50);
    assert.ok(server.messages.every((m) => m.length === 1000));
    assert.deepEqual(plain(server.trailers), { 'x-end': ['stream'], 'x-attempt': ['1'] });

    const parts = Array.from({ length: 20 }, (_, i) => Buffer.from(`part-${i}`));
    const upload = await client.clientStream(parts, { metadata: { 'x-echo-k-bin': bin } });
    assert.equal(upload.code, status.OK, upload.details);
    assert.deepEqual(JSON.parse(upload.messages[0]!.toString()), { messages: 20, bytes: parts.reduce((n, p) => n + p.length, 0) });
    assert.deepEqual(plain(upload.headers), { 'x-echo-k-bin': [bin.toString('base64')] });

    const chat = await client.bidi(parts, { script: { trailers: { 'x-end': 'bidi' } } });
    assert.equal(chat.code, status.OK, chat.details);
    assert.deepEqual(chat.messages.map(String), parts.map(String));
    assert.deepEqual(plain(chat.trailers), { 'x-end': ['bidi'], 'x-attempt': ['1'] });
  });

  it('a trailers-only error arrives exactly: code, details, metadata, and no headers before it', async () => {
    const reply = await mesh.client('echo').unary(Buffer.from('x'), {
      script: { fail: { code: status.FAILED_PRECONDITION, details: 'not now: ü € 100% done', metadata: { 'x-reason': 'quota', 'x-detail-bin': bin.toString('base64') } } },
    });
    assert.equal(reply.code, status.FAILED_PRECONDITION);
    assert.equal(reply.details, 'not now: ü € 100% done');
    assert.equal(reply.headers, undefined, 'trailers-only stays trailers-only');
    assert.deepEqual(plain(reply.trailers), { 'x-reason': ['quota'], 'x-detail-bin': [bin.toString('base64')] });
    only(reply.id);
  });

  it('a 200 ms client deadline: DEADLINE_EXCEEDED near 200 ms, the app saw a shorter grpc-timeout and its call is reset', async () => {
    const reply = await mesh.client('echo').unary(Buffer.from('x'), { deadlineMs: 200, script: { sleepMs: 10_000, ignoreDeadline: true } });
    assert.equal(reply.code, status.DEADLINE_EXCEEDED, reply.details);
    assert.ok(reply.elapsedMs >= 195 && reply.elapsedMs < 1000, `took ${reply.elapsedMs} ms`);
    const seen = only(reply.id);
    assert.ok(seen.timeoutMs !== undefined && seen.timeoutMs > 0 && seen.timeoutMs <= 200, `the app's deadline was ${seen.timeoutMs} ms away`);
    await waitFor(() => seen.closedAt !== undefined, 'the app\'s call to end', 2000);
    assert.equal(seen.cancelled, true, `the app's call ended with status ${seen.status}, not a reset`);
    assert.equal(seen.rstCode, 8, 'RST_STREAM CANCEL');
    assert.ok(seen.closedAt! - seen.startedAt < 1000);
  });

  it('a route\'s total timeout shorter than the call: trailers-only DEADLINE_EXCEEDED with petrel-error UT, the app\'s call reset', async () => {
    const client = mesh.client('echo-timeout');
    // The client's own deadline is far: the route's 150 ms is the smaller and wins.
    const reply = await client.unary(Buffer.from('x'), { deadlineMs: 5000, script: { sleepMs: 10_000, ignoreDeadline: true } });
    assert.equal(reply.code, status.DEADLINE_EXCEEDED, reply.details);
    assert.equal(reply.headers, undefined, 'a local reply is trailers-only');
    assert.deepEqual(reply.trailers.get('petrel-error'), ['UT']);
    assert.ok(reply.elapsedMs >= 145 && reply.elapsedMs < 1000, `took ${reply.elapsedMs} ms`);
    const seen = only(reply.id);
    assert.ok(seen.timeoutMs !== undefined && seen.timeoutMs <= 150, `the smaller deadline went upstream as grpc-timeout (${seen.timeoutMs} ms)`);
    await waitFor(() => seen.closedAt !== undefined, 'the app\'s call to end', 2000);
    assert.equal(seen.cancelled, true, `the app's call ended with status ${seen.status}, not a reset`);
    assert.equal(seen.rstCode, 8);
    // The route covers Unary only: a slower server-streaming call on the same service completes.
    const stream = await client.serverStream(Buffer.from('y'), { script: { sleepMs: 300 } });
    assert.equal(stream.code, status.OK, stream.details);
  });

  it('a client cancel reaches the app at once and leaves no stream open', async () => {
    const client = mesh.client('echo-one');
    const id = 'cancel-me';
    let cancelledAt = 0;
    const reply = await client.unary(Buffer.from('x'), {
      id, script: { sleepMs: 10_000 },
      onCall: (live) => void waitFor(() => app().attempts(id).length === 1, 'the call to reach the app').then(() => { cancelledAt = Date.now(); live.cancel(); }),
    });
    assert.equal(reply.code, status.CANCELLED);
    const seen = only(id);
    await waitFor(() => seen.closedAt !== undefined, 'the cancel to reach the app', 2000);
    assert.equal(seen.cancelled, true);
    assert.equal(seen.rstCode, 8);
    assert.ok(seen.closedAt! - cancelledAt < 500, `the cancel took ${seen.closedAt! - cancelledAt} ms to reach the app`);
    assert.deepEqual(app().open(), []);
    // Both sidecars finished the call (and counted it); the one stream echo-one allows is free again.
    await waitFor(async () => await mesh.caller.metric('petrel_requests_total', { peer_service: 'echo-one' }) === 1, 'the caller to count the cancelled call');
    await waitFor(async () => await mesh.callees[0]!.metric('petrel_requests_total', { direction: 'inbound' }) >= app().calls.length, 'the callee to finish every call');
    const next = await client.unary(Buffer.from('again'));
    assert.equal(next.code, status.OK, `${next.details} ${JSON.stringify(plain(next.trailers))}`);
  });

  it('a rate limit answers RESOURCE_EXHAUSTED with petrel-error RL, trailers-only, without reaching the app', async () => {
    const client = mesh.client('echo-limited');
    const first = await client.unary(Buffer.from('x'));
    assert.equal(first.code, status.OK, first.details);
    const second = await client.unary(Buffer.from('x'));
    assert.equal(second.code, status.RESOURCE_EXHAUSTED, second.details);
    assert.equal(second.headers, undefined);
    assert.deepEqual(second.trailers.get('petrel-error'), ['RL']);
    assert.deepEqual(app().attempts(second.id), []);
  });

  it('a service the mesh does not know: UNIMPLEMENTED with petrel-error NR, naming it', async () => {
    const reply = await mesh.client('nowhere').unary(Buffer.from('x'));
    assert.equal(reply.code, status.UNIMPLEMENTED, reply.details);
    assert.equal(reply.headers, undefined);
    assert.deepEqual(reply.trailers.get('petrel-error'), ['NR']);
    assert.match(reply.details, /nowhere/);
  });

  it('petrel_requests_total counts each call by grpc_status; plain HTTP gets grpc_status=""', async () => {
    const client = mesh.client('echo-metrics');
    const results = [
      await client.unary(Buffer.from('ok')),
      await client.unary(Buffer.from('x'), { script: { fail: { code: status.UNAVAILABLE } } }),
      await client.serverStream(Buffer.from('x'), { script: { fail: { code: status.UNAVAILABLE, afterMessages: 2 } } }),
      await client.unary(Buffer.from('x'), { script: { fail: { code: status.INVALID_ARGUMENT } } }),
    ];
    assert.deepEqual(results.map((r) => r.code), [0, 14, 14, 3]);
    const count = (grpc_status: string) => mesh.caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'echo-metrics', grpc_status });
    await waitFor(async () => await count('0') + await count('14') + await count('3') === 4, 'the caller to count 4 calls');
    assert.deepEqual([await count('0'), await count('14'), await count('3')], [1, 2, 1]);
    assert.equal(await mesh.caller.metric('petrel_requests_total', { peer_service: 'echo-metrics', code: '200' }), 4, 'gRPC answers are HTTP 200');
    assert.ok(await mesh.callees[0]!.metric('petrel_requests_total', { direction: 'inbound', grpc_status: '14' }) >= 2);
    const http = await call(mesh.caller.outboundPort, { headers: { host: 'nowhere-http' } });
    assert.equal(http.status, 404);
    await waitFor(async () => await mesh.caller.metric('petrel_requests_total', { code: '404', grpc_status: '' }) >= 1, 'the HTTP/1.1 reply counted with grpc_status=""');
  });
});
