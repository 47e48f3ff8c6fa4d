// A Service with two ports on loopback: a control plane, `payments` backed by one sidecar on the
// default port 80 and another registered with --service-port 9090 (each in front of its own app),
// and a calling sidecar. A call to payments (port 80) and one to payments:9090 reach different
// upstreams, and an HTTPRoute whose parentRef names port 9090 applies to calls on 9090 only.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, type Reply } from './harness/client.ts';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

interface Seen { app: string; headers: Record<string, string | string[] | undefined> }

const portRoute = [
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: HTTPRoute',
  'metadata: { name: admin-port, namespace: default }',
  'spec:',
  '  parentRefs: [{ group: "", kind: Service, name: payments, port: 9090 }]',
  '  rules:',
  '    - name: admin',
  '      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-port-route, value: "9090" }] } }]',
  '      backendRefs: [{ name: payments, port: 9090 }]',
  '',
].join('\n');

describe('Service ports between sidecars (--service-port)', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  const sidecars: SidecarHandle[] = [];
  const apps: Upstream[] = [];
  let dir: string;

  const send = (host: string): Promise<Reply> => call(web.outboundPort, { method: 'GET', path: '/', headers: { host } });
  const seen = (reply: Reply): Seen => JSON.parse(reply.body) as Seen;

  before(async () => {
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s', '--no-identity'] });
    for (const [name, servicePort] of [['http-app', undefined], ['admin-app', 9090]] as const) {
      const app = await startUpstream((req, res) => res.end(JSON.stringify({ app: name, headers: req.headers })));
      apps.push(app);
      const args = ['--control', control.streamUrl, ...(servicePort === undefined ? [] : ['--service-port', String(servicePort)])];
      sidecars.push(await startSidecar({ service: 'payments', app: app.address, args }));
    }
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl] });
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL'), ...sidecars.map((s) => s.stop('SIGKILL'))]);
    await Promise.all(apps.map((a) => a.close()));
  });

  it('payments and payments:9090 reach the endpoints behind each port', async () => {
    await waitFor(async () => { const r = await send('payments:9090'); return r.status === 200 && seen(r).app === 'admin-app'; }, 'payments:9090 reaches the 9090 endpoint');
    for (let i = 0; i < 6; i++) {
      assert.equal(seen(await send('payments')).app, 'http-app', 'a Host without port is port 80');
      assert.equal(seen(await send('payments:80')).app, 'http-app');
      assert.equal(seen(await send('payments.default.svc.cluster.local:9090')).app, 'admin-app');
    }
    // A port the Service does not have goes to its first port, as a one-port Service takes every port.
    assert.equal(seen(await send('payments:7777')).app, 'http-app');
    const dump = await (await web.admin('/config_dump')).json() as { snapshot: { services: { name: string; ports?: { port: number; endpoints: unknown[] }[] }[] } };
    const payments = dump.snapshot.services.find((s) => s.name === 'payments')!;
    assert.deepEqual(payments.ports?.map((p) => [p.port, p.endpoints.length]), [[80, 1], [9090, 1]]);
  });

  it('an HTTPRoute whose parentRef names port 9090 routes calls on 9090 only', async () => {
    writeFileSync(join(dir, 'routes.yaml'), portRoute);
    await waitFor(async () => seen(await send('payments:9090')).headers['x-port-route'] === '9090', 'the port route in force');
    const onDefault = seen(await send('payments'));
    assert.equal(onDefault.app, 'http-app');
    assert.equal(onDefault.headers['x-port-route'], undefined, 'port 80 has no route');
    const onAdmin = seen(await send('payments:9090'));
    assert.deepEqual([onAdmin.app, onAdmin.headers['x-port-route']], ['admin-app', '9090']);
  });
});
