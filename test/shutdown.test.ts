// SIGTERM under load: /ready turns 503 at once, the listeners stop accepting, every request that was
// accepted finishes (zero failures among them), and the process exits 0.
import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const CLIENTS = 32;

describe('graceful shutdown', () => {
  let app: Upstream;
  let sidecar: SidecarHandle;
  const seenByApp = new Set<string>();

  before(async () => {
    app = await startUpstream((req, res) => {
      seenByApp.add(req.headers['x-test-id'] as string);
      setTimeout(() => res.end('done'), 150); // every request is in flight for a while
    });
    sidecar = await startSidecar({ service: 'api', app: app.address, config: snapshot(1, []), args: ['--drain-grace', '10s'] });
  });

  after(async () => {
    await sidecar?.stop('SIGKILL');
    await app?.close();
  });

  it('finishes every accepted request, refuses new ones, and exits 0', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
    const outcomes = new Map<string, { status?: number; error?: string; endedAt: number }>();
    let stopping = false;
    let sigtermAt = 0;
    let seq = 0;
    const one = (): Promise<void> => new Promise((resolve) => {
      const id = String(seq++);
      const req = httpRequest({ host: '127.0.0.1', port: sidecar.inboundPort, path: '/', agent, headers: { host: 'api', 'x-test-id': id } }, (res) => {
        res.resume();
        res.on('end', () => { outcomes.set(id, { status: res.statusCode ?? 0, endedAt: Date.now() }); resolve(); });
      });
      req.on('error', (err: NodeJS.ErrnoException) => { outcomes.set(id, { error: err.code ?? err.message, endedAt: Date.now() }); resolve(); });
      req.end();
    });
    const client = async (): Promise<void> => {
      // Bounded: stops after 2,000 requests per client or once the sidecar refuses connections.
      for (let i = 0; i < 2000; i++) {
        await one();
        if (stopping && [...outcomes.values()].some((o) => o.error === 'ECONNREFUSED')) return;
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));
    await new Promise((r) => setTimeout(r, 800));
    stopping = true;
    sigtermAt = Date.now();
    const exit = sidecar.stop('SIGTERM');

    // /ready answers 503 while the drain runs; a new connection is refused.
    let readyStatus = 0;
    for (let i = 0; i < 20 && readyStatus !== 503; i++) {
      readyStatus = await sidecar.admin('/ready').then((r) => r.status, () => -1);
      if (readyStatus !== 503) await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(readyStatus, 503, '/ready turns 503 on SIGTERM');
    // /ready turns 503 the moment the drain starts; the listeners close a few milliseconds later
    // (after the drain delay, 0 here), so a connection may still get in just before.
    const tryConnect = () => new Promise<boolean>((resolve) => {
      const s = connect(sidecar.inboundPort, '127.0.0.1');
      s.on('connect', () => { s.destroy(); resolve(false); });
      s.on('error', () => resolve(true));
    });
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      refused = await tryConnect();
      if (!refused) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(refused, 'the inbound listener stopped accepting within 500 ms of /ready turning 503');

    assert.equal(await exit, 0, 'exits 0 after draining');
    await load;
    agent.destroy();

    const accepted = [...outcomes.entries()].filter(([id]) => seenByApp.has(id));
    const failedAccepted = accepted.filter(([, o]) => o.status !== 200);
    const badStatus = [...outcomes.values()].filter((o) => o.status !== undefined && o.status !== 200);
    const finishedAfterSigterm = accepted.filter(([, o]) => o.endedAt >= sigtermAt).length;
    assert.ok(accepted.length > CLIENTS, `load ran (${accepted.length} accepted)`);
    assert.ok(finishedAfterSigterm > 0, 'some accepted requests were still in flight at SIGTERM');
    assert.deepEqual(failedAccepted, [], 'zero failures among accepted requests');
    assert.deepEqual(badStatus, [], 'no error responses at all');
    for (const [id, o] of outcomes) {
      if (o.error !== undefined) assert.ok(!seenByApp.has(id), `request ${id} failed with ${o.error} but reached the app`);
    }
  });
});
