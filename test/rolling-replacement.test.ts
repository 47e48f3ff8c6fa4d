// Point 13 of issue 10: replacing the only endpoint of a service under load loses nothing. The old
// sidecar deregisters on SIGTERM, keeps serving through its drain delay (answering Connection:
// close) while callers learn, then stops accepting; a connection refused in between is retried on
// the other endpoint.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

/** Requests per second the caller keeps up, and the bound on the whole run. */
const RATE = 100;
const MAX_RUN_MS = 20_000;

describe('a rolling replacement at 100 requests/s', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  let oldPayments: SidecarHandle;
  let newPayments: SidecarHandle | undefined;
  let oldApp: Upstream;
  let newApp: Upstream;

  before(async () => {
    oldApp = await startUpstream((_req, res) => res.end('old'));
    newApp = await startUpstream((_req, res) => res.end('new'));
    control = await startControl({ policiesDir: tempDir('petrel-policies-'), args: ['--startup-grace', '0s'] });
    const args = ['--control', control.streamUrl];
    oldPayments = await startSidecar({ service: 'payments', app: oldApp.address, args: [...args, '--drain-delay', '2s'] });
    web = await startSidecar({ service: 'web', args });
    await waitFor(async () => {
      const dump = await (await web.admin('/config_dump')).json() as { services: { id: string; endpoints: unknown[] }[] };
      return dump.services.find((s) => s.id === 'payments.default')?.endpoints.length === 1;
    }, 'web knows the old payments endpoint');
  });
  after(async () => {
    await Promise.all([web?.stop(), oldPayments?.stop('SIGKILL'), newPayments?.stop(), control?.stop()]);
    await Promise.all([oldApp?.close(), newApp?.close()]);
  });

  it('loses no request while the old endpoint drains and the new one takes over', async () => {
    const agent = new Agent({ connections: 16 });
    const statuses = new Map<string, number>();
    const bodies = new Map<string, number>();
    let stop = false;
    const started = Date.now();
    const inFlight = new Set<Promise<void>>();
    const loop = (async () => {
      for (let i = 0; !stop && Date.now() - started < MAX_RUN_MS; i++) {
        const p = request(`http://127.0.0.1:${web.outboundPort}/`, { dispatcher: agent, headers: { host: 'payments' } })
          .then(async (r) => {
            const body = await r.body.text();
            const key = `${r.statusCode}${r.headers['petrel-error'] ? ` ${String(r.headers['petrel-error'])}` : ''}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
            bodies.set(body, (bodies.get(body) ?? 0) + 1);
          }, (err: Error) => { statuses.set(`error ${err.message}`, (statuses.get(`error ${err.message}`) ?? 0) + 1); });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
    })();
    await new Promise((r) => setTimeout(r, 1000));
    newPayments = await startSidecar({ service: 'payments', app: newApp.address, args: ['--control', control.streamUrl] });
    await new Promise((r) => setTimeout(r, 500));
    const exited = oldPayments.stop('SIGTERM');
    assert.equal(await exited, 0, 'the old sidecar drained and exited 0');
    await new Promise((r) => setTimeout(r, 1000));
    stop = true;
    await loop;
    await Promise.all(inFlight);
    await agent.close();
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    assert.deepEqual([...statuses.keys()], ['200'], `every request succeeded: ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok(total >= 300, `${total} requests were sent`);
    assert.ok((bodies.get('old') ?? 0) > 0 && (bodies.get('new') ?? 0) > 0, `both endpoints served: ${JSON.stringify(Object.fromEntries(bodies))}`);
  });
});
