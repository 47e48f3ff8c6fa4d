// `petrel describe` against a running local mesh: a control plane (with a token) whose policy
// directory holds a namespace default, the payments Service's ResiliencePolicy, an HTTPRoute with a
// ResiliencePolicy on one of its rules and an AccessPolicy; a payments sidecar (named payments-0) in
// front of an app, and a web sidecar that calls it. Describe shows each value with its source, the
// rule's value from the rule-targeted policy, the AccessPolicy it came from, the endpoint closed as
// web sees it; then the app fails, web's breaker (consecutiveFailures: 2) opens, and after web's next
// stat report describe shows the endpoint open, naming web.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DescribePodBody, DescribeServiceBody } from '../control/describe.ts';
import { STAT_REPORT_MS } from '../sidecar/config/control-client.ts';
import { call } from './harness/client.ts';
import { runPetrel, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

const doc = (...lines: string[]) => [...lines, ''].join('\n');

describe('petrel describe against a running local mesh', () => {
  let app: Upstream;
  let control: ControlHandle;
  let web: SidecarHandle;
  let payments: SidecarHandle;
  let dir: string;
  let tokenFile: string;
  let failing = false;
  const cli = (...args: string[]) => runPetrel(['describe', ...args, '--control', control.apiUrl, '--token-file', tokenFile]);
  const api = async (): Promise<DescribeServiceBody> => {
    const res = await fetch(`${control.apiUrl}/v1/describe/service/default/payments`, { headers: { authorization: 'Bearer describe-secret' } });
    assert.equal(res.status, 200);
    return (await res.json()) as DescribeServiceBody;
  };

  before(async () => {
    app = await startUpstream((req, res) => {
      req.resume();
      res.statusCode = failing ? 503 : 200;
      res.end(failing ? 'failing on purpose' : 'ok');
    });
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'defaults.yaml'), doc(
      'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: defaults, namespace: default }',
      'spec:', '  timeout: { total: 10s }',
    ));
    writeFileSync(join(dir, 'payments.yaml'), doc(
      'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments, namespace: default }',
      'spec:', '  targetRef: { kind: Service, name: payments }',
      '  retry: { attempts: 3, backoff: { base: 1ms, max: 2ms } }',
      '  circuitBreaker: { consecutiveFailures: 2, openFor: 1m }',
      '---',
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: payments, namespace: default }',
      'spec:', '  targetRef: { kind: Service, name: payments }', '  rules: [{ from: { serviceAccounts: [web] } }]',
    ));
    writeFileSync(join(dir, 'route.yaml'), doc(
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: { name: payments, namespace: default }',
      'spec:', '  parentRefs: [{ group: "", kind: Service, name: payments, port: 80 }]', '  rules:',
      '    - name: charge', '      matches: [{ path: { type: PathPrefix, value: /charge } }]', '      backendRefs: [{ name: payments, port: 80 }]',
      '    - name: rest', '      matches: [{ path: { type: PathPrefix, value: / } }]', '      backendRefs: [{ name: payments, port: 80 }]',
      '---',
      'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments-charge, namespace: default }',
      'spec:', '  targetRef: { group: gateway.networking.k8s.io, kind: HTTPRoute, name: payments, sectionName: charge }', '  retry: { attempts: 5 }',
    ));
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 'describe-secret\n');
    control = await startControl({ policiesDir: dir, tokenFile, args: ['--startup-grace', '0s'] });
    const args = ['--control', control.streamUrl, '--token-file', tokenFile];
    payments = await startSidecar({ service: 'payments', app: app.address, args: [...args, '--name', 'payments-0'] });
    web = await startSidecar({ service: 'web', args: [...args, '--name', 'web-0'] });
    await waitFor(async () => (await call(web.outboundPort, { path: '/x', headers: { host: 'payments' } })).status === 200, 'web reaches payments over mTLS', 20_000);
    for (let i = 0; i < 5; i++) assert.equal((await call(web.outboundPort, { path: `/x/${i}`, headers: { host: 'payments' } })).status, 200);
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), payments?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('-o json: each value with its source, the rule\'s from the rule-targeted policy, the AccessPolicy, the endpoint closed as web sees it', async () => {
    await waitFor(async () => (await api()).endpoints[0]?.circuit === 'closed', 'web\'s stat report with the payments endpoint', STAT_REPORT_MS * 3);
    const r = await cli('service', 'payments', '-o', 'json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const body = JSON.parse(r.stdout) as DescribeServiceBody;
    assert.deepEqual(body.policy['retry.attempts'], { value: 3, source: `ResiliencePolicy default/payments in ${join(dir, 'payments.yaml')} (document 1)` });
    assert.deepEqual(body.policy['timeout.total'], { value: '10s', source: `ResiliencePolicy default/defaults in ${join(dir, 'defaults.yaml')} (document 1) (namespace default)` });
    assert.deepEqual(body.policy['timeout.connect'], { value: '1000ms', source: 'built-in' });
    const charge = body.routes.find((x) => x.name === 'charge');
    assert.ok(charge, r.stdout);
    assert.deepEqual(charge.policy['retry.attempts'], { value: 5, source: `ResiliencePolicy default/payments-charge in ${join(dir, 'route.yaml')} (document 2)` });
    assert.equal(charge.source, 'HTTPRoute default/payments rule 0');
    assert.deepEqual(body.routes.find((x) => x.name === 'rest')?.policy['retry.attempts'], body.policy['retry.attempts'], 'the other rule takes the Service\'s');
    assert.equal(body.access?.mtls, 'permissive');
    assert.equal(body.access?.rules?.length, 1);
    assert.deepEqual(body.access?.sources, [`AccessPolicy default/payments in ${join(dir, 'payments.yaml')} (document 2)`]);
    assert.equal(body.endpoints.length, 1);
    const [endpoint] = body.endpoints;
    assert.equal(endpoint?.name, 'payments-0');
    assert.equal(endpoint?.circuit, 'closed');
    assert.deepEqual(endpoint?.callers, ['web-0 (web.default)']);
    assert.ok(endpoint?.ewmaMs !== null && endpoint!.ewmaMs > 0, 'a latency score');
    assert.deepEqual(body.sidecars.map((s) => [s.name, s.state]), [['payments-0', 'SYNCED']]);
    assert.ok(typeof body.sidecars[0]?.version === 'number');
  });

  it('text: the sections, each value with its source', async () => {
    const r = await cli('service', 'payments');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const section of ['Service payments.default', 'Policy (effective values; source of each)', 'Routes', 'AccessPolicies', 'Endpoints', 'Sidecars']) {
      assert.match(r.stdout, new RegExp(`^${section.replace(/[()]/g, '\\$&')}`, 'm'), `section ${section} in\n${r.stdout}`);
    }
    assert.match(r.stdout, /^ {2}retry\.attempts +3 +ResiliencePolicy default\/payments in .*payments\.yaml \(document 1\)$/m);
    assert.match(r.stdout, /^ {2}timeout\.connect +1000ms +built-in$/m);
    assert.match(r.stdout, /^ {2}rule charge \(HTTPRoute default\/payments rule 0\)$/m);
    assert.match(r.stdout, /^ {6}retry\.attempts +5 +ResiliencePolicy default\/payments-charge in .*route\.yaml \(document 2\)$/m);
    assert.match(r.stdout, /^ {2}from: AccessPolicy default\/payments in .*payments\.yaml \(document 2\)$/m);
    assert.match(r.stdout, /^ {2}127\.0\.0\.1:\d+ +payments-0 +closed +\S+ +0 +web-0 \(web\.default\)$/m);
    assert.match(r.stdout, /^ {2}payments-0 +127\.0\.0\.1:\d+ +\d+ +SYNCED$/m);
  });

  it('the endpoint shows open once web\'s breaker opened, naming web, after its next stat report', async () => {
    failing = true;
    for (let i = 0; i < 3; i++) await call(web.outboundPort, { path: `/fail/${i}`, headers: { host: 'payments' } });
    const dump = (await (await web.admin('/config_dump')).json()) as { services: { id: string; endpoints: { circuit: string }[] }[] };
    assert.equal(dump.services.find((x) => x.id === 'payments.default')?.endpoints[0]?.circuit, 'open', 'web\'s /config_dump: its breaker for payments-0 opened');
    await waitFor(async () => (await api()).endpoints[0]?.circuit === 'open', 'the open breaker in describe', STAT_REPORT_MS * 3);
    const r = await cli('service', 'payments', '-o', 'json');
    assert.equal(r.code, 0, r.stderr);
    const [endpoint] = (JSON.parse(r.stdout) as DescribeServiceBody).endpoints;
    assert.equal(endpoint?.circuit, 'open');
    assert.deepEqual(endpoint?.openBy, ['web-0 (web.default)']);
    const text = await cli('service', 'payments');
    console.log(text.stdout);
    assert.match(text.stdout, /^ {2}127\.0\.0\.1:\d+ +payments-0 +open \(by web-0 \(web\.default\)\) /m);
  });

  it('describe pod: the pod\'s service by its endpoint name', async () => {
    const r = await cli('pod', 'payments-0', '-o', 'json');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const body = JSON.parse(r.stdout) as DescribePodBody;
    assert.deepEqual(body.services.map((s) => s.service), ['payments']);
    const text = await cli('pod', 'payments-0');
    assert.match(text.stdout, /^Pod payments-0\.default: an endpoint of payments\.default$/m);
  });

  it('an unknown service exits 1 naming the services in its namespace; without the token, 401', async () => {
    const r = await cli('service', 'paymnts');
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), 'petrel describe: no service paymnts in namespace default; services there: payments, web');
    const other = await cli('service', 'payments', '-n', 'shop');
    assert.equal(other.code, 1);
    assert.match(other.stderr, /no service payments in namespace shop; no services there; payments exists in: payments\.default \(-n NAMESPACE\)/);
    const unauthorized = await runPetrel(['describe', 'service', 'payments', '--control', control.apiUrl]);
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /HTTP 401.*--token-file/);
  });
});
