// gRPC resilience through a real sidecar pair (the same mesh as grpc.test.ts): retries on gRPC
// statuses and the rules that forbid them, per-call balancing over one channel, an app's GOAWAYs,
// and memory that stays bounded under 16 MiB messages and a reader that stops reading.
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { after, before, describe, it } from 'node:test';
import { plain } from './harness/grpc-client.ts';
import { startGrpcMesh, watchRss, type GrpcMesh } from './harness/grpc-mesh.ts';
import { waitFor } from './harness/wait.ts';

const MiB = 1 << 20;

describe('gRPC resilience through a sidecar pair', () => {
  let mesh: GrpcMesh;

  before(async () => { mesh = await startGrpcMesh(); });
  after(async () => { await mesh?.stop(); });

  const app = () => mesh.apps[0]!;
  const attempts = (id: string) => app().attempts(id).length;
  const retries = () => mesh.caller.metric('petrel_retries_total', { peer_service: 'echo-retry' });

  describe('retries (attempts 3, on unavailable)', () => {
    it('UNAVAILABLE twice, then success: the client sees success, the app saw 3 calls', async () => {
      const before = await retries();
      const client = mesh.client('echo-retry');
      const unary = await client.unary(Buffer.from('x'), { script: { failTimes: 2, fail: { code: status.UNAVAILABLE, details: 'try again' } } });
      assert.equal(unary.code, status.OK, unary.details);
      assert.equal(attempts(unary.id), 3);
      // A trailers-only UNAVAILABLE of a server stream is retried too: nothing was relayed yet.
      const stream = await client.serverStream(Buffer.from('x'), { script: { messages: 3, failTimes: 1, fail: { code: status.UNAVAILABLE } } });
      assert.equal(stream.code, status.OK, stream.details);
      assert.equal(stream.count, 3);
      assert.equal(attempts(stream.id), 2);
      assert.equal(await retries() - before, 3);
    });

    it('UNAVAILABLE three times: the client gets the last one exactly', async () => {
      const reply = await mesh.client('echo-retry').unary(Buffer.from('x'), { script: { fail: { code: status.UNAVAILABLE, details: 'down for good', metadata: { 'x-try': 'n' } } } });
      assert.equal(reply.code, status.UNAVAILABLE);
      assert.equal(reply.details, 'down for good');
      assert.deepEqual(reply.trailers.get('x-try'), ['n']);
      assert.equal(attempts(reply.id), 3);
    });

    it('INVALID_ARGUMENT is never retried', async () => {
      const reply = await mesh.client('echo-retry').unary(Buffer.from('x'), { script: { fail: { code: status.INVALID_ARGUMENT, details: 'bad' } } });
      assert.equal(reply.code, status.INVALID_ARGUMENT);
      assert.equal(attempts(reply.id), 1);
    });

    it('nothing is retried after the first response message went to the client', async () => {
      const reply = await mesh.client('echo-retry').serverStream(Buffer.from('x'), { script: { fail: { code: status.UNAVAILABLE, details: 'mid-stream', afterMessages: 1 } } });
      assert.equal(reply.code, status.UNAVAILABLE);
      assert.equal(reply.details, 'mid-stream');
      assert.equal(reply.count, 1);
      assert.equal(attempts(reply.id), 1);
    });

    it('a request body over 64 KiB is not retried; one under it is', async () => {
      const client = mesh.client('echo-retry');
      const script = { failTimes: 1, fail: { code: status.UNAVAILABLE } };
      const big = await client.unary(Buffer.alloc(100 * 1024, 1), { script });
      assert.equal(big.code, status.UNAVAILABLE);
      assert.equal(attempts(big.id), 1);
      const streamed = await client.clientStream(Array.from({ length: 5 }, () => Buffer.alloc(20 * 1024, 2)), { script });
      assert.equal(streamed.code, status.UNAVAILABLE, 'five 20 KiB messages: past the replay buffer');
      assert.equal(attempts(streamed.id), 1);
      const small = await client.unary(Buffer.alloc(60 * 1024, 3), { script });
      assert.equal(small.code, status.OK, small.details);
      assert.equal(attempts(small.id), 2);
    });

    it('a bidi ping-pong flows under the retry policy: the request stream is not held back for the replay copy', async () => {
      const parts = Array.from({ length: 5 }, (_, i) => Buffer.from(`turn-${i}`));
      const reply = await mesh.client('echo-retry').pingPong(parts, { deadlineMs: 5000 });
      assert.equal(reply.code, status.OK, reply.details);
      assert.deepEqual(reply.messages.map(String), parts.map(String));
      assert.equal(attempts(reply.id), 1);
    });

    it('grpc-retry-pushback-ms: a negative value stops retries, a positive one delays the retry', async () => {
      const client = mesh.client('echo-retry');
      const stop = await client.unary(Buffer.from('x'), { script: { failTimes: 1, fail: { code: status.UNAVAILABLE, metadata: { 'grpc-retry-pushback-ms': '-1' } } } });
      assert.equal(stop.code, status.UNAVAILABLE);
      assert.equal(attempts(stop.id), 1);
      const wait = await client.unary(Buffer.from('x'), { script: { failTimes: 1, fail: { code: status.UNAVAILABLE, metadata: { 'grpc-retry-pushback-ms': '300' } } } });
      assert.equal(wait.code, status.OK, wait.details);
      const [first, second] = app().attempts(wait.id);
      assert.ok(second!.startedAt - first!.startedAt >= 290, `retried after ${second!.startedAt - first!.startedAt} ms`);
    });
  });

  it('one channel spreads its calls over all 3 endpoints (round-robin: 10 each)', async () => {
    const client = mesh.client('echo-spread');
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const reply = await client.unary(Buffer.from(String(i)));
      assert.equal(reply.code, status.OK, reply.details);
      ids.push(reply.id);
    }
    const perApp = mesh.apps.slice(0, 3).map((a) => ids.filter((id) => a.attempts(id).length === 1).length);
    assert.deepEqual(perApp, [10, 10, 10]);
  });

  it('an app that sends GOAWAY every 200 ms: 100 sequential calls over several connection ages, no errors', async () => {
    const client = mesh.client('echo-aging');
    const failed: string[] = [];
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      const reply = await client.unary(Buffer.from('x'), { script: { sleepMs: 10 } });
      if (reply.code !== status.OK) failed.push(`call ${i}: ${reply.code} ${reply.details} ${JSON.stringify(plain(reply.trailers))}`);
    }
    assert.deepEqual(failed, []);
    const aging = mesh.apps[3]!;
    const connections = new Set(aging.calls.map((c) => c.peer)).size;
    assert.ok(connections >= 4, `the calls took ${Date.now() - started} ms over ${connections} connections: too few ages`);
  });

  it('16 MiB messages echo intact with both sidecars\' memory bounded', async () => {
    const client = mesh.client('echo');
    const rss = watchRss([mesh.caller, mesh.callees[0]!]);
    for (let i = 0; i < 4; i++) {
      const message = Buffer.alloc(16 * MiB, i + 1);
      const reply = await client.unary(message);
      assert.equal(reply.code, status.OK, reply.details);
      assert.ok(reply.messages[0]?.equals(message), 'the echo is intact');
    }
    const growth = rss.stop();
    assert.ok(growth.every((mb) => mb < 100), `RSS growth (caller, callee): ${growth} MB`);
  });

  it('a slow reader: flow control holds the app back instead of the sidecars buffering 64 MiB', async () => {
    const client = mesh.client('echo');
    const id = 'slow-reader';
    const rss = watchRss([mesh.caller, mesh.callees[0]!]);
    let live: NodeJS.ReadableStream | undefined;
    const done = client.serverStream(Buffer.from('x'), {
      id, discard: true, script: { messages: 256, messageBytes: 256 * 1024 },
      onCall: (c) => { live = c as unknown as NodeJS.ReadableStream; live.pause(); },
    });
    // The client reads nothing: the app's writes must stall, held by flow control along the chain.
    let last = -1;
    let unchanged = 0;
    await waitFor(() => {
      const seen = app().attempts(id)[0];
      if (seen === undefined) return false;
      unchanged = seen.messagesOut === last ? unchanged + 1 : 0;
      last = seen.messagesOut;
      return seen.writeBlocked && unchanged >= 10;
    }, 'the app to stall on a paused reader', 20_000);
    assert.ok(last < 256, 'the app wrote all 64 MiB although the client read nothing: something buffered it all');
    live!.resume();
    const reply = await done;
    assert.equal(reply.code, status.OK, reply.details);
    assert.equal(reply.bytes, 64 * MiB);
    const growth = rss.stop();
    assert.ok(growth.every((mb) => mb < 100), `RSS growth (caller, callee): ${growth} MB; the app stalled after ${last} of 256 messages`);
  });
});
