// The gRPC test harness itself, client straight to app with no sidecar: what the sidecar-path tests
// (grpc.test.ts, grpc-resilience.test.ts) assert holds on a direct grpc-js connection, so a failure
// there is the mesh's. It also pins the grpc-js internals the app reads (the call's HTTP/2 stream,
// its deadline timer).
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { startGrpcApp, type GrpcApp } from './harness/grpc-app.ts';
import { EchoClient, plain } from './harness/grpc-client.ts';
import { waitFor } from './harness/wait.ts';

describe('gRPC harness on a direct grpc-js connection', () => {
  let app: GrpcApp;
  let aging: GrpcApp;
  let client: EchoClient;

  before(async () => {
    [app, aging] = await Promise.all([startGrpcApp(), startGrpcApp({ options: { 'grpc.max_connection_age_ms': 200, 'grpc.max_connection_age_grace_ms': 2000 } })]);
    client = new EchoClient(app.address, { authority: 'echo' });
  });
  after(async () => {
    client?.close();
    await Promise.all([app?.close(), aging?.close()]);
  });

  it('scripts: fail twice then answer, counted by x-call-id; trailers-only errors with exact metadata', async () => {
    const script = { failTimes: 2, fail: { code: status.UNAVAILABLE, details: 'ü', metadata: { 'x-k-bin': 'AAE=' } } };
    const codes = [];
    for (let i = 0; i < 3; i++) codes.push(await client.unary(Buffer.from('x'), { id: 'twice', script }));
    assert.deepEqual(codes.map((r) => r.code), [14, 14, 0]);
    assert.deepEqual(codes.map((r) => r.headers === undefined), [true, true, false]);
    assert.equal(codes[0]!.details, 'ü');
    assert.deepEqual(plain(codes[0]!.trailers), { 'x-k-bin': ['AAE='] });
    assert.deepEqual(plain(codes[2]!.trailers), { 'x-attempt': ['3'] });
    assert.deepEqual(app.attempts('twice').map((c) => c.status), [14, 14, 0]);
  });

  it('a stream that fails after its first message; pushback metadata passes as any other', async () => {
    const reply = await client.serverStream(Buffer.from('x'), { script: { fail: { code: status.UNAVAILABLE, afterMessages: 1, metadata: { 'grpc-retry-pushback-ms': '-1' } } } });
    assert.deepEqual([reply.code, reply.count, reply.trailers.get('grpc-retry-pushback-ms')], [14, 1, ['-1']]);
  });

  it('tells a reset from a status: a client deadline on a call that ignores it, and a cancel', async () => {
    const late = await client.unary(Buffer.from('x'), { deadlineMs: 200, script: { sleepMs: 10_000, ignoreDeadline: true } });
    assert.equal(late.code, status.DEADLINE_EXCEEDED);
    const seen = app.attempts(late.id)[0]!;
    assert.ok(seen.timeoutMs! > 150 && seen.timeoutMs! <= 200, String(seen.timeoutMs));
    await waitFor(() => seen.closedAt !== undefined, 'the reset');
    assert.deepEqual([seen.cancelled, seen.rstCode, seen.status], [true, 8, undefined]);

    const kept = await client.unary(Buffer.from('x'), { deadlineMs: 100, script: { sleepMs: 10_000 } });
    const timedOut = app.attempts(kept.id)[0]!;
    await waitFor(() => timedOut.closedAt !== undefined, 'the app\'s own deadline');
    // grpc-js's own deadline timer or the client's reset, whichever comes first, ends it.
    assert.ok(timedOut.status === status.DEADLINE_EXCEEDED || timedOut.rstCode === 8, JSON.stringify(timedOut));

    const cancelled = await client.unary(Buffer.from('x'), {
      id: 'c', script: { sleepMs: 10_000 }, onCall: (call) => void waitFor(() => app.attempts('c').length === 1, 'the call').then(() => call.cancel()),
    });
    assert.equal(cancelled.code, status.CANCELLED);
    await waitFor(() => app.attempts('c')[0]!.closedAt !== undefined, 'the cancel');
    assert.deepEqual([app.attempts('c')[0]!.cancelled, app.attempts('c')[0]!.rstCode], [true, 8]);
    assert.deepEqual(app.open(), []);
  });

  it('a paused reader stalls the app\'s writes', async () => {
    let live: NodeJS.ReadableStream | undefined;
    const done = client.serverStream(Buffer.from('x'), {
      id: 'slow', discard: true, script: { messages: 256, messageBytes: 256 * 1024 },
      onCall: (c) => { live = c as unknown as NodeJS.ReadableStream; live.pause(); },
    });
    let [last, unchanged] = [-1, 0];
    await waitFor(() => {
      const seen = app.attempts('slow')[0];
      if (seen === undefined) return false;
      unchanged = seen.messagesOut === last ? unchanged + 1 : 0;
      last = seen.messagesOut;
      return seen.writeBlocked && unchanged >= 10;
    }, 'the stall');
    assert.ok(last < 64, `stalled after ${last} messages`);
    live!.resume();
    assert.equal((await done).bytes, 64 << 20);
  });

  it('grpc.max_connection_age_ms: the app closes connections while calls keep succeeding', async () => {
    // grpc-js's transparent retry absorbs a stream the app refused on its GOAWAY ("Stream refused by
    // server" without it): the mesh tests' client has retries off, so there the sidecars must.
    const direct = new EchoClient(aging.address, { options: { 'grpc.enable_retries': 1 } });
    try {
      for (let i = 0; i < 60; i++) assert.equal((await direct.unary(Buffer.from('x'), { script: { sleepMs: 10 } })).code, status.OK);
      assert.ok(new Set(aging.calls.map((c) => c.peer)).size >= 3);
    } finally {
      direct.close();
    }
  });
});
