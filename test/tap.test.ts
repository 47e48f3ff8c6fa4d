// `petrel tap` and per-request explain against a running local mesh: a control plane with a token
// and a retry policy for payments, a payments sidecar in front of an app that answers 503 to the
// first try of every request on /flaky (deterministic: by x-request-id) and a web sidecar whose
// outbound listener plays the calling app.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TapEvent } from '../api/tap-messages.ts';
import { call } from './harness/client.ts';
import { runPetrel, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

describe('petrel tap and petrel-explain', () => {
  let app: Upstream;
  let control: ControlHandle;
  let web: SidecarHandle;
  let payments: SidecarHandle;
  let tokenFile: string;
  const tap = (...args: string[]) => runPetrel(['tap', 'payments', '--control', control.apiUrl, '--token-file', tokenFile, '--duration', '20s', ...args]);

  /** Calls payments through web's outbound listener until `until` settles. */
  async function traffic<T>(until: Promise<T>): Promise<T> {
    let done = false;
    void until.finally(() => { done = true; });
    let i = 0;
    while (!done) {
      const r = await call(web.outboundPort, { path: `/flaky/${i++}?card=4111-secret`, headers: { host: 'payments' } });
      assert.equal(r.status, 200, 'the retry turned each first-try 503 into a 200');
      await new Promise((r) => setTimeout(r, 30));
    }
    return until;
  }

  before(async () => {
    const tries = new Map<string, number>();
    app = await startUpstream((req, res) => {
      req.resume();
      const id = req.headers['x-request-id'] as string;
      const n = (tries.get(id) ?? 0) + 1;
      tries.set(id, n);
      if (req.url?.startsWith('/flaky') === true && n === 1) { res.writeHead(503); res.end('first try fails'); return; }
      res.end('ok');
    });
    const dir = tempDir('petrel-policies-');
    writeFileSync(join(dir, 'payments.yaml'), [
      'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments }', 'spec:',
      '  targetRef: { kind: Service, name: payments }',
      '  retry: { attempts: 3, on: [gateway-error], backoff: { strategy: fixed, base: 5ms, max: 5ms }, budget: { ratio: 0.5, minPerSecond: 20 } }', '',
    ].join('\n'));
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 'tap-secret\n');
    control = await startControl({ policiesDir: dir, tokenFile, args: ['--startup-grace', '0s'] });
    const args = ['--control', control.streamUrl, '--token-file', tokenFile];
    payments = await startSidecar({ service: 'payments', app: app.address, args });
    web = await startSidecar({ service: 'web', args: [...args, '--access-log', 'all'] });
    const services = async (h: SidecarHandle) => ((await (await h.admin('/config_dump')).json()) as { services: { id: string }[] }).services.map((s) => s.id.split('.')[0]);
    await waitFor(async () => (await services(web)).includes('payments'), 'payments in the web sidecar\'s snapshot');
    await waitFor(async () => (await control.status()).sidecars.filter((s) => s.state === 'SYNCED').length === 2, 'two SYNCED sidecars');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), payments?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('tap --explain -o json shows a request retried, with the retry condition, the budget left and the backoff', async () => {
    const r = await traffic(tap('--explain', '-o', 'json', '--max', '12'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TapEvent);
    assert.equal(events.length, 12);
    const retried = events.find((e) => e.direction === 'outbound' && e.attempts === 2);
    assert.ok(retried, `an outbound event with 2 attempts in:\n${r.stdout}`);
    assert.equal(retried.service, 'web');
    assert.equal(retried.peer, 'payments');
    assert.equal(retried.status, 200);
    assert.match(retried.path, /^\/flaky\/\d+$/, 'the path is shown without its query');
    assert.doesNotMatch(r.stdout, /4111-secret/, 'query values never leave the sidecar');
    assert.match(retried.explanation ?? '', /^route default; attempt 1 -> 127\.0\.0\.1:\d+: 503, retry \(gateway-error; budget \d+\/\d+ left; backoff 5 ms\); attempt 2 -> 127\.0\.0\.1:\d+: 200$/);
    const first = retried.explain?.find((e) => e.kind === 'attempt' && e.n === 1);
    assert.ok(first?.kind === 'attempt' && first.retry?.condition === 'gateway-error' && first.retry.budgetAllowed >= first.retry.budgetLeft && first.retry.budgetLeft > 0);
    // The callee's own sidecar saw both tries come in.
    assert.ok(events.some((e) => e.direction === 'inbound' && e.service === 'payments' && e.status === 503), 'the inbound 503 from payments\' sidecar');
    assert.match(r.stderr, /tapping payments\.default through 2 sidecars/);
    console.log(`a tapped request, explained: ${retried.explanation}`);
  });

  it('tap --max 5 ends after 5 requests; text output is one line each', async () => {
    const r = await traffic(tap('--max', '5'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 5, r.stdout);
    for (const line of lines) assert.match(line, /^\S+Z (in |out) \S+ -> \S+ GET payments\/flaky\/\d+ route=\S+ \d{3} flags=\S+ attempts=\d upstream=\S+ [\d.]+ms$/);
    assert.match(r.stderr, /tap ended \(--max 5 reached\): 5 requests shown/);
  });

  it('tap is privileged: without the token it is refused', async () => {
    const r = await runPetrel(['tap', 'payments', '--control', control.apiUrl, '--max', '1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HTTP 401.*tap is privileged: pass --token-file/);
  });

  it('the app\'s request with petrel-explain: 1 gets the explanation; the header never reaches the callee\'s app', async () => {
    const before = app.received.length;
    const r = await call(web.outboundPort, { path: '/flaky/explain', headers: { host: 'payments', 'petrel-explain': '1' } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['petrel-explain']), /^route=default; attempt 1 -> 127\.0\.0\.1:\d+: 503 retry\(gateway-error, budget \d+\/\d+, backoff 5ms\); attempt 2 -> 127\.0\.0\.1:\d+: 200$/);
    const seen = app.received.slice(before);
    assert.equal(seen.length, 2, 'two tries reached the app');
    for (const req of seen) assert.equal(req.headers['petrel-explain'], undefined, 'stripped before forwarding');
    // Without the header nothing is explained.
    const plain = await call(web.outboundPort, { path: '/flaky/plain', headers: { host: 'payments' } });
    assert.equal(plain.headers['petrel-explain'], undefined);
    // The access log (at all) carries it as a field.
    await waitFor(() => /"path":"\/flaky\/explain".*"explain":"route=default; attempt 1/.test(web.output()), 'the explanation in the access log');
  });

  it('an outside request carrying petrel-explain is refused: no explanation, and the app never sees the header', async () => {
    const before = app.received.length;
    const r = await call(payments.inboundPort, { path: '/plain', headers: { host: 'payments', 'petrel-explain': '1' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['petrel-explain'], undefined, 'not explained');
    const seen = app.received.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.headers['petrel-explain'], undefined, 'dropped before the app');
    assert.equal(await payments.metric('petrel_explain_refused_total'), 1);
    assert.match(payments.output(), /asked for petrel-explain: refused/);
  });
});
