// The access log: one JSON line per request, in the modes off, errors and all.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { freePort, snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import type { AccessLogRecord } from '../sidecar/telemetry/access-log.ts';

function lines(sidecar: SidecarHandle): AccessLogRecord[] {
  return sidecar.output().split('\n').filter((l) => l.startsWith('{"time"')).map((l) => JSON.parse(l) as AccessLogRecord);
}

async function waitForLines(sidecar: SidecarHandle, n: number): Promise<AccessLogRecord[]> {
  const deadline = Date.now() + 5000;
  while (lines(sidecar).length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return lines(sidecar);
}

describe('access log', () => {
  let app: Upstream;
  let dead: number;
  const sidecars: SidecarHandle[] = [];

  before(async () => {
    app = await startUpstream((_req, res) => res.end('ok'));
    dead = await freePort();
  });

  after(async () => {
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    await app.close();
  });

  const start = async (mode: string) => {
    const s = await startSidecar({
      service: 'web', args: ['--access-log', mode],
      config: snapshot(1, [{ name: 'api', endpoints: [app.address] }, { name: 'down', endpoints: [`127.0.0.1:${dead}`] }]),
    });
    sidecars.push(s);
    return s;
  };

  it('all: one line per request with the documented fields', async () => {
    const s = await start('all');
    await call(s.outboundPort, { path: '/v1/items?id=7', headers: { host: 'api', 'x-request-id': 'req-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } });
    await call(s.outboundPort, { headers: { host: 'down' } });
    const [ok, failed] = await waitForLines(s, 2);
    assert.deepEqual({ ...ok, time: undefined, duration_ms: undefined, upstream: undefined }, {
      time: undefined, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', request_id: 'req-1', direction: 'outbound', service: 'web',
      peer_service: 'api', peer_identity: '', tls: 'false', method: 'GET', authority: 'api', path: '/v1/items?id=7', route: 'default', status: 200, grpc_status: '', flags: '-',
      upstream: undefined, attempts: 1, duration_ms: undefined,
    });
    assert.match(ok!.time, /^\d{4}-\d\d-\d\dT/);
    assert.ok(ok!.duration_ms >= 0);
    assert.match(ok!.upstream, /^api\.default endpoint /);
    assert.equal(failed?.status, 503);
    assert.equal(failed?.flags, 'UF');
    assert.equal(failed?.attempts, 2, 'the built-in never-sent retry shows');
  });

  it('errors: only 5xx or flagged requests', async () => {
    const s = await start('errors');
    await call(s.outboundPort, { headers: { host: 'api' } });
    await call(s.outboundPort, { headers: { host: 'down' } });
    const logged = await waitForLines(s, 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(lines(s).map((l) => [l.peer_service, l.status]), [['down', 503]]);
    assert.equal(logged.length, 1);
  });

  it('off: nothing', async () => {
    const s = await start('off');
    await call(s.outboundPort, { headers: { host: 'down' } });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lines(s).length, 0);
  });
});
