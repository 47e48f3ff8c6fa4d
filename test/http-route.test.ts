// HTTPRoute (Gateway API, GAMMA) end to end on loopback: a control plane with route files in its
// policy directory, a calling sidecar, and backend services each behind its own sidecar. Shaped
// after the MESH-HTTP conformance tests (written from the specification, not copied): MeshBasic,
// SimpleSameNamespace, Matching, RequestHeaderModifier, RedirectHostAndStatus, Weight and TrafficSplit,
// plus query matching, path redirect, URL rewrite, response headers and mirroring.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call, type Reply } from './harness/client.ts';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

interface Seen { backend: string; method: string; path: string; headers: Record<string, string | string[] | undefined>; body: string }

const route = (name: string, parent: string, rules: string) => [
  'apiVersion: gateway.networking.k8s.io/v1',
  'kind: HTTPRoute',
  `metadata: { name: ${name}, namespace: default }`,
  'spec:',
  `  parentRefs: [{ group: "", kind: Service, name: ${parent}, port: 80 }]`,
  '  rules:',
  rules,
  '',
].join('\n');

describe('HTTPRoute between sidecars (GAMMA)', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  const backends = new Map<string, { app: Upstream; sidecar: SidecarHandle; seen: Seen[] }>();
  let dir: string;

  const send = (path: string, init: { method?: string; headers?: Record<string, string>; body?: string; host?: string } = {}): Promise<Reply> =>
    call(web.outboundPort, { method: init.method ?? 'GET', path, headers: { host: init.host ?? 'payments', ...init.headers }, ...(init.body === undefined ? {} : { body: init.body }) });
  const who = (reply: Reply): string => (JSON.parse(reply.body) as Seen).backend;
  const write = (file: string, text: string) => writeFileSync(join(dir, file), text);

  before(async () => {
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s', '--no-identity'] });
    for (const name of ['payments-v1', 'payments-v2', 'shadow', 'plain']) {
      const seen: Seen[] = [];
      const app = await startUpstream((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => { body += c.toString(); });
        req.on('end', () => {
          const record: Seen = { backend: name, method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
          seen.push(record);
          res.setHeader('x-backend', name);
          res.setHeader('x-remove-me', 'yes');
          res.end(JSON.stringify(record));
        });
      });
      const sidecar = await startSidecar({ service: name, app: app.address, args: ['--control', control.streamUrl] });
      backends.set(name, { app, sidecar, seen });
    }
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl] });
    await waitFor(async () => (await send('/', { host: 'plain' })).status === 200, 'web reaches plain');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL'), ...[...backends.values()].map((b) => b.sidecar.stop('SIGKILL'))]);
    await Promise.all([...backends.values()].map((b) => b.app.close()));
  });

  /** Writes payments.yaml and waits until `ready` holds for the web sidecar's view. */
  async function apply(text: string, ready: () => Promise<boolean>): Promise<void> {
    write('payments.yaml', text);
    await waitFor(ready, 'the route in force at the web sidecar', 10_000);
  }

  it('MeshBasic: a service with no route is called as it is', async () => {
    const reply = await send('/hello', { host: 'plain' });
    assert.equal(reply.status, 200);
    assert.equal(who(reply), 'plain');
  });

  it('SimpleSameNamespace: a route on Service payments sends its calls to its backendRef', async () => {
    await apply(route('payments', 'payments', '    - backendRefs: [{ name: payments-v1, port: 80 }]'),
      async () => (await send('/x')).status === 200);
    const reply = await send('/anything');
    assert.equal(who(reply), 'payments-v1');
    assert.equal(JSON.parse(reply.body).path, '/anything');
  });

  it('Matching: path, headers, query and method pick the rule by the specification\'s precedence; no match is 404 NR', async () => {
    await apply(route('payments', 'payments', [
      '    - name: exact',
      '      matches: [{ path: { type: Exact, value: /v2/exact } }]',
      '      backendRefs: [{ name: payments-v2, port: 80 }]',
      '    - name: prefix',
      '      matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: x-version, value: two }] }]',
      '      backendRefs: [{ name: payments-v2, port: 80 }]',
      '    - name: query',
      '      matches: [{ path: { type: PathPrefix, value: /q }, queryParams: [{ name: mode, value: beta }] }]',
      '      backendRefs: [{ name: payments-v2, port: 80 }]',
      '    - name: v1',
      '      matches: [{ path: { type: PathPrefix, value: /v1 } }, { path: { type: PathPrefix, value: /q } }]',
      '      backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => (await send('/v2/exact')).status === 200 && who(await send('/v2/exact')) === 'payments-v2');
    assert.equal(who(await send('/v2/exact')), 'payments-v2');
    assert.equal(who(await send('/v2/more')), 'payments-v2');
    assert.equal(who(await send('/v1/anything', { headers: { 'x-version': 'two' } })), 'payments-v1', 'a longer path prefix outranks a header match');
    assert.equal(who(await send('/other', { headers: { 'x-version': 'two' } })), 'payments-v2');
    assert.equal(who(await send('/q/item?mode=beta')), 'payments-v2', 'query parameter match');
    assert.equal(who(await send('/q/item?mode=alpha')), 'payments-v1');
    const none = await send('/v2x');
    assert.equal(none.status, 404);
    assert.equal(none.headers['petrel-error'], 'NR');
    // Rule names are the route label.
    assert.ok(await web.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'payments', route: 'exact' }) >= 1);
  });

  it('RequestHeaderModifier and ResponseHeaderModifier: set, add and remove on the way out and back', async () => {
    await apply(route('payments', 'payments', [
      '    - filters:',
      '        - type: RequestHeaderModifier',
      '          requestHeaderModifier: { set: [{ name: x-set, value: set }], add: [{ name: x-add, value: added }], remove: [x-drop] }',
      '        - type: ResponseHeaderModifier',
      '          responseHeaderModifier: { set: [{ name: x-backend, value: rewritten }], remove: [x-remove-me] }',
      '      backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => (await send('/h')).headers['x-backend'] === 'rewritten');
    const reply = await send('/h', { headers: { 'x-set': 'old', 'x-add': 'first', 'x-drop': 'gone' } });
    const seen = JSON.parse(reply.body) as Seen;
    assert.equal(seen.headers['x-set'], 'set');
    assert.equal(seen.headers['x-add'], 'first,added');
    assert.equal(seen.headers['x-drop'], undefined);
    assert.equal(reply.headers['x-backend'], 'rewritten');
    assert.equal(reply.headers['x-remove-me'], undefined);
  });

  it('RedirectHostAndStatus and path redirect: answered by the caller\'s sidecar, no backend called', async () => {
    await apply(route('payments', 'payments', [
      '    - matches: [{ path: { type: PathPrefix, value: /old } }]',
      '      filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org, statusCode: 301, path: { type: ReplacePrefixMatch, replacePrefixMatch: /new } } }]',
      '    - matches: [{ path: { type: PathPrefix, value: /moved } }]',
      '      filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: 8443 } }]',
      '    - backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => (await send('/old/a')).status === 301);
    const before = backends.get('payments-v1')!.seen.length;
    const moved = await send('/old/a/b?q=1');
    assert.equal(moved.status, 301);
    assert.equal(moved.headers.location, 'http://example.org/new/a/b?q=1');
    const https = await send('/moved/x');
    assert.equal(https.status, 302, 'the default status');
    assert.equal(https.headers.location, 'https://payments:8443/moved/x');
    assert.equal(backends.get('payments-v1')!.seen.length, before);
  });

  it('URLRewrite: the backend sees the rewritten path and host', async () => {
    await apply(route('payments', 'payments', [
      '    - matches: [{ path: { type: PathPrefix, value: /api } }]',
      '      filters: [{ type: URLRewrite, urlRewrite: { hostname: internal.payments, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v1 } } }]',
      '      backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => JSON.parse((await send('/api/z')).body).path === '/v1/z');
    const seen = JSON.parse((await send('/api/items?id=3')).body) as Seen;
    assert.equal(seen.path, '/v1/items?id=3');
    assert.equal(seen.headers.host, 'internal.payments');
  });

  it('Weight and TrafficSplit: 1,000 calls split 70/30 within a binomial bound; weight 0 gets none', async () => {
    await apply(route('payments', 'payments', [
      '    - backendRefs: [{ name: payments-v1, port: 80, weight: 70 }, { name: payments-v2, port: 80, weight: 30 }, { name: shadow, port: 80, weight: 0 }]',
    ].join('\n')), async () => who(await send('/w')) === 'payments-v2' || who(await send('/w')) === 'payments-v2');
    const counts = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const name = who(await send(`/w/${i}`));
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    const sigma = Math.sqrt(1000 * 0.7 * 0.3);
    const v1 = counts.get('payments-v1') ?? 0;
    assert.ok(Math.abs(v1 - 700) <= 4 * sigma, `payments-v1 got ${v1} of 1000 (expected 700 ± ${Math.round(4 * sigma)})`);
    assert.equal(counts.get('shadow'), undefined);
  });

  it('RequestMirror: the backend answers, the mirror gets a copy, and a failing mirror changes nothing', async () => {
    await apply(route('payments', 'payments', [
      '    - filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 80 } } }]',
      '      backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => {
      if (backends.get('shadow')!.seen.some((s) => s.path === '/m0')) return true;
      await send('/m0');
      return false;
    });
    const shadow = backends.get('shadow')!.seen;
    const before = shadow.length;
    const reply = await send('/mirrored', { method: 'POST', body: 'copy me' });
    assert.equal(who(reply), 'payments-v1');
    // (Copies of the readiness probes may still be arriving: look for this call's own copy.)
    await waitFor(() => shadow.slice(before).some((c) => c.path === '/mirrored'), 'the mirrored copy');
    const copy = shadow.find((c) => c.path === '/mirrored')!;
    assert.deepEqual([copy.method, copy.body], ['POST', 'copy me']);
    assert.ok(await web.metric('petrel_mirror_requests_total', { mirror: 'shadow', result: 'sent' }) >= 1);
    // The mirror goes away: the real calls do not notice; the copies are counted as failed.
    await backends.get('shadow')!.sidecar.stop('SIGKILL');
    for (let i = 0; i < 5; i++) assert.equal(who(await send(`/after-mirror-died/${i}`, { method: 'POST', body: 'x' })), 'payments-v1');
    await waitFor(async () => (await web.metric('petrel_mirror_requests_total', { mirror: 'shadow', result: 'failed' })) >= 5, 'the failed copies counted');
  });

  it('a rule whose backendRef is not a Service answers 500 NC, an invalid backendRef beside a valid one gets its share of 500s, an invalid route edit keeps the last good one', async () => {
    await apply(route('payments', 'payments', [
      '    - matches: [{ path: { type: PathPrefix, value: /bad } }]',
      '      backendRefs: [{ group: example.com, kind: Bucket, name: b1 }]',
      '    - backendRefs: [{ name: payments-v1, port: 80 }]',
    ].join('\n')), async () => (await send('/bad')).status === 500);
    const bad = await send('/bad');
    assert.equal(bad.headers['petrel-error'], 'NC');
    assert.equal(who(await send('/good')), 'payments-v1');
    write('payments.yaml', route('payments', 'payments', '    - backendRefs: [{ name: payments-v2, port: 80, weight: -1 }]'));
    await waitFor(async () => (await control.status()).policies.rejected.length === 1, 'the rejection');
    assert.match((await control.status()).policies.rejected[0]!.errors.join('\n'), /spec\.rules\[0\]\.backendRefs\[0\]\.weight/);
    assert.equal(who(await send('/good')), 'payments-v1', 'the last good route stays in force');
    // One valid and one invalid backendRef of equal weight: about half the calls get 500 NC, the
    // others reach the valid backend (the spec's per-backend 500s). 200 calls: the share of 500s
    // lies within 0.5 ± 0.15 (more than four standard deviations), and both kinds occur.
    await apply(route('payments', 'payments', '    - backendRefs: [{ name: payments-v1, port: 80, weight: 1 }, { group: example.com, kind: Bucket, name: b1, weight: 1 }]'),
      async () => (await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => send('/half')))).some((r) => r.status === 500));
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      const reply = await send(`/half/${i}`);
      if (reply.status === 500) {
        failed++;
        assert.equal(reply.headers['petrel-error'], 'NC');
      } else assert.equal(who(reply), 'payments-v1');
    }
    assert.ok(failed > 70 && failed < 130, `${failed} of 200 answered 500`);
  });
});
