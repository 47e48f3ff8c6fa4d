// A client that goes away cancels its upstream request, all the way to the app, and 10,000 of them
// leave no socket and no memory behind in either sidecar.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { DEFAULT_SIDECAR_NODE_FLAGS } from '../sidecar/runtime-flags.ts';

/** Live heap after a full GC, in bytes. */
async function liveHeap(sidecar: SidecarHandle): Promise<number> {
  const m = await (await sidecar.admin('/memory?gc=1')).json() as { heapUsed: number; collected: boolean };
  assert.ok(m.collected, 'the sidecar ran a full GC');
  return m.heapUsed;
}

const TOTAL = 10_000;
const CONCURRENCY = 64;

describe('client aborts', () => {
  let app: Upstream;
  let outbound: SidecarHandle;
  let inbound: SidecarHandle;
  const arrived = new Map<string, () => void>();
  let cancelledAtApp = 0;

  before(async () => {
    app = await startUpstream((req, res) => {
      // Never answers; notes when the proxy gives up on the request.
      res.on('close', () => { if (!res.writableFinished) cancelledAtApp++; });
      arrived.get(req.headers['x-test-id'] as string)?.();
    });
    // --expose-gc lets /memory?gc=1 measure the live heap after a full collection: exact, where RSS
    // right after a burst mostly shows how lazily V8 collects.
    const env = { PETREL_SIDECAR_NODE_FLAGS: `${DEFAULT_SIDECAR_NODE_FLAGS.join(' ')} --expose-gc` };
    inbound = await startSidecar({ service: 'slow', app: app.address, config: snapshot(1, []), env });
    outbound = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'slow', endpoints: [`127.0.0.1:${inbound.inboundPort}`] }]), env });
  });

  after(async () => {
    await Promise.all([outbound?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    await app?.close();
  });

  /** Sends one request and resets the connection once the app has it. */
  function abortOne(id: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = connect(outbound.outboundPort, '127.0.0.1');
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`request ${id} never reached the app`)); }, 10_000);
      arrived.set(id, () => {
        arrived.delete(id);
        clearTimeout(timer);
        socket.destroy();
        resolve();
      });
      socket.on('error', () => {});
      socket.write(`GET /hang HTTP/1.1\r\nHost: slow\r\nx-test-id: ${id}\r\n\r\n`);
    });
  }

  async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('cancels the upstream request when the client goes away', async () => {
    const before = cancelledAtApp;
    await abortOne('single');
    await waitUntil(() => cancelledAtApp === before + 1, 'the app to see its request cancelled');
    await waitUntil(() => app.openSockets() === 0, 'the app connection to close');
  });

  it(`leaks no sockets and no memory over ${TOTAL} aborted requests`, async (t) => {
    // Warm up, so that lazily built state is not mistaken for a leak.
    for (let i = 0; i < 200; i++) await abortOne(`warm-${i}`);
    await waitUntil(() => app.openSockets() === 0, 'warm-up sockets to close');
    const fds = [outbound.fdCount(), inbound.fdCount()];
    const rss = [outbound.rssKb(), inbound.rssKb()];
    const heap = [await liveHeap(outbound), await liveHeap(inbound)];
    const cancelledBefore = cancelledAtApp;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < TOTAL) await abortOne(String(next++));
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await waitUntil(() => cancelledAtApp - cancelledBefore === TOTAL, 'every request to be cancelled at the app');
    await waitUntil(() => app.openSockets() === 0, 'every app connection to close');
    await waitUntil(() => outbound.fdCount() <= (fds[0] as number) + 2 && inbound.fdCount() <= (fds[1] as number) + 2, 'sidecar descriptors to return to their baseline');
    assert.equal(await outbound.metric('petrel_upstream_connections'), 0);
    assert.equal(await inbound.metric('petrel_upstream_connections'), 0);
    const rssGrowth = [outbound.rssKb() - (rss[0] as number), inbound.rssKb() - (rss[1] as number)];
    const heapGrowth = [(await liveHeap(outbound)) - (heap[0] as number), (await liveHeap(inbound)) - (heap[1] as number)];
    t.diagnostic(`after ${TOTAL} aborts: live heap growth ${heapGrowth.join(' / ')} bytes, RSS growth ${rssGrowth.join(' / ')} kB, fds ${outbound.fdCount()}/${inbound.fdCount()} vs ${fds.join('/')}`);
    // 10,000 leaked requests of even 100 bytes each would be 1 MB.
    for (const g of heapGrowth) assert.ok(g < 512 * 1024, `live heap grew by ${g} bytes`);
    assert.equal(await outbound.metric('petrel_requests_total', { flags: 'DC' }) >= TOTAL, true, 'each abort is counted with the DC flag');
  });
});
