// Deregistration (ControlClient.deregister): a sidecar that is going away tells the control plane,
// which drops its endpoint at once (no registration grace) and pushes the other sidecars new
// snapshots; the sidecar keeps serving meanwhile, and a reconnect does not register it again.
// The deregistering sidecar's control client runs in this process (the sidecar's drain calls the
// same method); the endpoint it advertises is a real sidecar process that keeps serving.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { SeededRandom } from '../sidecar/policy/clock.ts';
import { ControlClient, type SnapshotStore } from '../sidecar/config/control-client.ts';
import { call } from './harness/client.ts';
import { snapshot, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

interface Dump { services: { id: string; endpoints: { address: string }[] }[] }

/** The snapshot in force, as little of a ConfigStore as the client needs. */
function memoryStore(): SnapshotStore & { applied: number } {
  let current: { version: number; source: object } | undefined;
  return {
    applied: 0,
    get current() { return current; },
    apply(doc) {
      const source = doc as { version: number };
      current = { version: source.version, source };
      this.applied++;
      return current;
    },
  };
}

describe('deregistration', () => {
  let app: Upstream;
  let control: ControlHandle;
  let web: SidecarHandle;
  let paymentsA: SidecarHandle;
  let paymentsB: SidecarHandle;
  let client: ControlClient;
  let tokenFile: string;
  const logs: string[] = [];
  const store = memoryStore();

  const endpointsAtWeb = async (): Promise<string[]> => {
    const dump = (await (await web.admin('/config_dump')).json()) as Dump;
    return (dump.services.find((s) => s.id.startsWith('payments'))?.endpoints.map((e) => e.address) ?? []).sort();
  };

  before(async () => {
    app = await startUpstream((req, res) => { req.resume(); res.end('ok'); });
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 's3cret\n');
    control = await startControl({ policiesDir: tempDir('petrel-policies-'), tokenFile, args: ['--startup-grace', '0s'] });
    const args = ['--control', control.streamUrl, '--token-file', tokenFile];
    paymentsA = await startSidecar({ service: 'payments', app: app.address, args });
    // B serves from a static config; its registration is the in-process client's.
    paymentsB = await startSidecar({ service: 'payments', app: app.address, config: snapshot(1, []) });
    web = await startSidecar({ service: 'web', args });
    client = new ControlClient({
      url: control.streamUrl, token: 's3cret', service: 'payments', namespace: 'default', advertise: `127.0.0.1:${paymentsB.inboundPort}`,
      name: 'payments-b', cacheFile: undefined, store, random: new SeededRandom(1),
      log: pino({ level: 'info' }, { write: (line: string) => void logs.push(line) }),
    });
    await client.start();
    await waitFor(async () => (await endpointsAtWeb()).length === 2, 'both payments endpoints at web');
  });

  after(async () => {
    client?.stop();
    await Promise.all([web?.stop('SIGKILL'), paymentsA?.stop('SIGKILL'), paymentsB?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('drops the endpoint from the callers\' snapshots within a second, while the sidecar keeps serving', async (t) => {
    const a = `127.0.0.1:${paymentsA.inboundPort}`;
    const b = `127.0.0.1:${paymentsB.inboundPort}`;
    assert.deepEqual(await endpointsAtWeb(), [a, b].sort());
    const started = Date.now();
    await client.deregister(2000);
    const confirmed = Date.now() - started;
    assert.ok(logs.some((l) => l.includes(`deregistered: the control plane dropped ${b}`)), `confirmed by the control plane:\n${logs.join('')}`);
    const took = await waitFor(async () => JSON.stringify(await endpointsAtWeb()) === JSON.stringify([a]), 'only payments A at web', 1000);
    t.diagnostic(`deregister confirmed after ${confirmed} ms; web lists only A ${took} ms later`);
    assert.ok(confirmed < 1000, `confirmed after ${confirmed} ms`);
    // The deregistered sidecar still serves what reaches it, and still holds its config stream.
    assert.equal((await call(paymentsB.inboundPort, { headers: { host: 'payments' } })).status, 200);
    const mine = (await control.status()).sidecars.find((s) => s.address === b) as { connected: boolean; deregistered: boolean } | undefined;
    assert.equal(mine?.connected, true);
    assert.equal(mine?.deregistered, true, 'status says so');
    for (let i = 0; i < 10; i++) assert.equal((await call(web.outboundPort, { headers: { host: 'payments' } })).status, 200);
    assert.match(control.output(), /sidecar deregistered; its endpoint is dropped/);
  });

  it('does not register again when its stream reconnects', async () => {
    const a = `127.0.0.1:${paymentsA.inboundPort}`;
    const ports = { stream: control.streamPort, api: control.apiPort };
    await control.stop('SIGKILL');
    control = await startControl({ policiesDir: tempDir('petrel-policies-'), tokenFile, ports, args: ['--startup-grace', '0s'] });
    await waitFor(async () => (await control.status()).sidecars.filter((s) => s.connected).length === 3, 'web, A and the deregistered client back', 15_000);
    const back = (await control.status()).sidecars.find((s) => s.address === `127.0.0.1:${paymentsB.inboundPort}`);
    assert.equal(back?.connected, true, 'subscribed for config');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(await endpointsAtWeb(), [a], 'but not registered');
    assert.match(control.output(), /"registered":false[^\n]*sidecar subscribed/);
  });

  it('resolves after its timeout when the control plane does not answer, and at once when never connected; never rejects', async () => {
    // A stand-in control plane that opens the stream, then never answers the deregistration.
    const hung = createServer((req, res) => {
      if (req.url?.startsWith('/v1/subscribe')) {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(`${JSON.stringify({ type: 'hello', id: 'hung', heartbeatMs: 10_000, secret: 'x' })}\n`);
      }
    });
    hung.listen(0, '127.0.0.1');
    await once(hung, 'listening');
    const options = { token: undefined, service: 'payments', namespace: 'default', advertise: '127.0.0.1:1', name: 'x', cacheFile: undefined, random: new SeededRandom(2) };
    const lines: string[] = [];
    const waiting = new ControlClient({ ...options, url: `http://127.0.0.1:${(hung.address() as AddressInfo).port}`, store: memoryStore(), log: pino({}, { write: (l: string) => void lines.push(l) }) });
    try {
      await waiting.start();
      await waitFor(() => lines.some((l) => l.includes('config stream connected')), 'the stream');
      await new Promise((r) => setTimeout(r, 50)); // the hello
      const started = Date.now();
      await waiting.deregister(300);
      const took = Date.now() - started;
      assert.ok(took >= 280 && took < 1000, `resolved after ${took} ms`);
      assert.ok(lines.some((l) => l.includes('deregister: no answer from the control plane within 300 ms')));
    } finally {
      waiting.stop();
      hung.closeAllConnections();
      hung.close();
    }
    const never = new ControlClient({ ...options, url: 'http://127.0.0.1:9', store: memoryStore(), log: pino({ level: 'silent' }) });
    const started = Date.now();
    await never.deregister(5000); // never connected: nothing to tell, resolves at once
    assert.ok(Date.now() - started < 100);
    never.stop();
  });
});
