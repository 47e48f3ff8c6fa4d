// The certificate's life in the sidecar, on an injected wall clock and a stand-in CA: when renewal is
// due, what a failure does to the state (and to readiness), and a control plane without a CA.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { SeededRandom } from '../policy/clock.ts';
import { CertificateError, type Credentials } from './certificate-request.ts';
import { IdentityManager, RENEW_AT } from './identity-manager.ts';
import { parseSpiffe } from './spiffe.ts';

const NOW = Date.parse('2026-11-27T09:00:00Z');
const identity = parseSpiffe('spiffe://cluster.local/ns/shop/sa/web')!;

function credentials(ttlMs: number, now = NOW): Credentials {
  // As the CA issues them: backdated a minute for clock skew.
  return { certPem: '', keyPem: '', roots: [], identity, notBefore: now - 60_000, notAfter: now + ttlMs, serial: String(now) };
}

function manager(fetch: () => Promise<Credentials>, results: string[] = []): IdentityManager {
  return new IdentityManager({
    control: { url: 'http://127.0.0.1:1', token: undefined, tokenFile: undefined, ca: undefined },
    namespace: 'shop', serviceAccount: 'web', log: pino({ level: 'silent' }), random: new SeededRandom(1),
    now: () => NOW, fetch, onRenewal: (r) => results.push(r),
  });
}

describe('IdentityManager', () => {
  test('renews at 70% of the lifetime left when the certificate arrived, not counting the minute of skew', async () => {
    const m = manager(async () => credentials(30_000));
    await m.start();
    m.stop();
    assert.equal(m.state.kind, 'ready');
    assert.equal(m.nextRenewalAt, NOW + 30_000 * RENEW_AT); // 21 s in, not 3 s
    const day = manager(async () => credentials(86_400_000));
    await day.start();
    day.stop();
    assert.equal(day.nextRenewalAt, NOW + 86_400_000 * 0.7);
  });

  test('a failed renewal keeps the certificate in use and records why; a failed first request leaves it pending', async () => {
    const results: string[] = [];
    let fail = false;
    const m = manager(async () => {
      if (fail) throw new CertificateError('CONTROL_UNREACHABLE', 'cannot reach the control plane at http://127.0.0.1:1: ECONNREFUSED');
      return credentials(30_000);
    }, results);
    await m.start();
    fail = true;
    await m.renewNow();
    m.stop();
    assert.equal(m.state.kind, 'ready');
    assert.match(m.state.kind === 'ready' ? m.state.renewalError ?? '' : '', /ECONNREFUSED/);
    assert.equal(m.credentials?.serial, String(NOW));
    assert.deepEqual(results, ['ok', 'error']);

    const never = manager(async () => { throw new CertificateError('CERTIFICATE_REFUSED', 'the control plane refused the certificate request (401)'); });
    void never.start();
    await new Promise((r) => setImmediate(r));
    never.stop();
    assert.equal(never.state.kind, 'pending');
    assert.match(never.state.kind === 'pending' ? never.state.error ?? '' : '', /401/);
  });

  test('a control plane without a CA (404) turns identity off: the sidecar runs plaintext', async () => {
    const m = manager(async () => { throw new CertificateError('IDENTITY_DISABLED', 'the control plane issues no certificates'); });
    let disabled = false;
    m.on('disabled', () => { disabled = true; });
    await m.start();
    m.stop();
    assert.equal(m.state.kind, 'disabled');
    assert.ok(disabled);
  });
});
