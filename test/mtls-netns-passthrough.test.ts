// What mesh mTLS leaves alone and what `mtls: strict` refuses, under transparent interception: two
// network-namespace pods (netns.ts) with sidecars as uid 1337 behind `petrel iptables`, certificates
// from a control plane in pod b (pod-mesh.ts). b's app (pod-tls-app.ts) has TLS of its own, with a
// self-signed certificate made here: HTTPS on APP_TLS_PORT, and on the app port both plaintext HTTP
// and its own HTTPS (picked by the first byte).
//
// Permissive (no AccessPolicy): the app's TLS from pod a's app, with a non-mesh SNI and with no SNI,
// to either port, reaches the app's own TLS server: the client sees the app's certificate and gets
// the app's answer, and the app saw the SNI as sent. Both sidecars counted it as opaque TCP. To the
// app port (a mesh endpoint's address) the opaque bytes ride mesh mTLS between the sidecars (one
// handshake each side); to another port they go as they are (no handshake). On a connection that
// reaches b's sidecar directly, the SNI is what decides: TLS naming b's mesh identity is b's
// sidecar's (its SPIFFE certificate, a handshake it refuses without a client certificate). A mesh
// call runs one too, and a plaintext call that skips a's sidecar is served: the refusals below are
// strict's doing.
//
// `mtls: strict` (an AccessPolicy in the control plane's policy directory): plaintext HTTP to b's app
// port with a's sidecar skipped (the client runs as uid 1337, which a's iptables does not redirect)
// gets 403 `petrel-error: RBAC` from b's sidecar and nothing reaches the app; a non-HTTP connection
// to the app port that skips a's sidecar is closed before the app accepts anything, while the same
// bytes through a's sidecar ride mTLS and reach the app; the mesh call through a's sidecar still gets 200. Needs root; run it alone (no other network-namespace test at the same time).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPodPair, NODE, type PodPair } from './harness/netns.ts';
import { configDump, startMeshPods, type MeshPods } from './harness/pod-mesh.ts';
import { APP_UID, configDir, podMetric, PROXY_UID } from './harness/pod-sidecar.ts';
import { REPO } from './harness/processes.ts';
import { selfSignedServerCertificate } from './harness/test-ca.ts';
import { waitFor } from './harness/wait.ts';

const APP = join(REPO, 'test', 'harness', 'pod-tls-app.ts');
const PROBE = join(REPO, 'test', 'harness', 'pod-probe.ts');
const CLIENT = join(REPO, 'test', 'harness', 'pod-client.ts');
const APP_PORT = 8080;
const APP_TLS_PORT = 8443;
const CALLER = { service: 'web', serviceAccount: 'frontend' };
const CALLEE = { service: 'payments', serviceAccount: 'payments' };
const APP_NAME = 'app.example';
const CALLEE_SNI = `${CALLEE.serviceAccount}.default.serviceaccount.identity.petrel.cluster.local`;
/** Opens with a byte no HTTP method starts with: opaque to the sidecars, a 400 to the app's HTTP server. */
const NOT_HTTP = '{"not":"http"}\r\n\r\n';
const STRICT_POLICY = [
  'apiVersion: petrel.dev/v1alpha1',
  'kind: AccessPolicy',
  'metadata: { name: payments, namespace: default }',
  'spec:',
  '  targetRef: { kind: Service, name: payments }',
  '  mtls: strict',
  '',
].join('\n');

interface Setup { pods: PodPair; mesh: MeshPods; caFile: string; fingerprint256: string }

async function setUp(policies: Record<string, string>): Promise<Setup> {
  const pods = createPodPair();
  const certDir = configDir();
  const cert = await selfSignedServerCertificate({ dns: [APP_NAME], ips: [pods.b.ip] });
  const [certFile, keyFile] = [join(certDir, 'app.crt'), join(certDir, 'app.key')];
  writeFileSync(certFile, cert.certPem);
  writeFileSync(keyFile, cert.keyPem, { mode: 0o644 });
  const mesh = await startMeshPods(pods, {
    caller: CALLER, callee: CALLEE, appPort: APP_PORT, policies,
    app: { command: [NODE, APP, String(APP_PORT), String(APP_TLS_PORT), certFile, keyFile], ready: 'tls app listening' },
  });
  return { pods, mesh, caFile: certFile, fingerprint256: cert.fingerprint256 };
}

async function probe<T>(s: Setup, uid: number, args: string[]): Promise<T> {
  const result = await s.pods.a.run([NODE, PROBE, ...args], uid, 20_000);
  assert.equal(result.code, 0, `pod-probe ${args.join(' ')} as uid ${uid}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** What b's app logged: connections it accepted and requests it answered. */
function appLog(s: Setup): { event: string; port: number; tls?: boolean; servername?: string | null; path?: string }[] {
  return s.mesh.app.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ReturnType<typeof appLog>[number]);
}

/** The counters that tell opaque TCP from terminated mTLS, on both sidecars. */
async function counters(s: Setup) {
  const { a, b } = s.pods;
  return {
    aOutboundTcp: await podMetric(a, 'petrel_tcp_connections_opened_total', { direction: 'outbound' }),
    aOutboundHandshakes: await podMetric(a, 'petrel_tls_handshakes_total', { direction: 'outbound' }),
    bInboundTcp: await podMetric(b, 'petrel_tcp_connections_opened_total', { direction: 'inbound' }),
    bInboundHandshakes: await podMetric(b, 'petrel_tls_handshakes_total', { direction: 'inbound' }),
    bInboundRequests: await podMetric(b, 'petrel_requests_total', { direction: 'inbound' }),
    handshakeErrors: await podMetric(a, 'petrel_tls_handshake_errors_total', {}) + await podMetric(b, 'petrel_tls_handshake_errors_total', {}),
  };
}
type Counters = Awaited<ReturnType<typeof counters>>;

function delta(before: Counters, after: Counters): Counters {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof Counters]])) as Counters;
}

/** A mesh call: GET from a's app (redirected to a's sidecar, mTLS to b's). */
async function meshCall(s: Setup, path: string): Promise<{ statuses: number[]; bodies: string[] }> {
  const result = await s.pods.a.run([NODE, CLIENT, 'get', `http://${s.pods.b.ip}:${APP_PORT}${path}`], APP_UID);
  assert.equal(result.code, 0, `pod-client get: ${result.stderr}`);
  return JSON.parse(result.stdout) as { statuses: number[]; bodies: string[] };
}

interface TlsReply { authorized: boolean; fingerprint256: string; subjectaltname: string; status: number; body: string }
interface HttpReply { status: number; headers: Record<string, string>; body: string }
interface RawReply { received: string; ending: string }

describe('the app\'s own TLS passes through both sidecars as opaque TCP (permissive)', () => {
  let s: Setup | undefined;

  before(async () => { s = await setUp({}); });
  after(() => s?.pods.destroy());

  for (const port of [APP_TLS_PORT, APP_PORT]) {
    for (const sni of [APP_NAME, '-']) {
      const what = `${sni === '-' ? 'no SNI' : `SNI ${sni}`} to ${port === APP_PORT ? 'the app port' : 'the app\'s HTTPS port'}`;
      const overMtls = port === APP_PORT;
      it(`${what}: the client sees the app's certificate and answer; opaque on both sidecars, ${overMtls ? 'inside mesh mTLS between them' : 'no handshake by either'}`, async () => {
        const setup = s!;
        const path = `/app-tls-${port}-${sni === '-' ? 'nosni' : 'sni'}`;
        const logged = appLog(setup).length;
        const before = await counters(setup);
        const reply = await probe<TlsReply>(setup, APP_UID, ['tls', setup.pods.b.ip, String(port), sni, setup.caFile, path]);
        const after = await counters(setup);
        // The app's certificate (pinned: the client trusts nothing else), not a sidecar's SPIFFE one.
        assert.equal(reply.authorized, true);
        assert.equal(reply.fingerprint256, setup.fingerprint256);
        assert.doesNotMatch(reply.subjectaltname, /URI:spiffe/);
        assert.equal(reply.status, 200, reply.body);
        assert.deepEqual(JSON.parse(reply.body), {
          event: 'request', app: 'pod-tls-app', port, tls: true, servername: sni === '-' ? null : sni, method: 'GET', path, body: '',
        });
        // The app accepted the connection itself and terminated its TLS.
        const seen = appLog(setup).slice(logged);
        assert.deepEqual(seen.map((e) => [e.event, e.port]), [['connection', port], ['request', port]]);
        const handshakes = overMtls ? 1 : 0;
        assert.deepEqual(delta(before, after), {
          aOutboundTcp: 1, aOutboundHandshakes: handshakes, bInboundTcp: 1, bInboundHandshakes: handshakes, bInboundRequests: 0, handshakeErrors: 0,
        });
        if (overMtls) assert.ok(await podMetric(setup.pods.b, 'petrel_tcp_connections_opened_total', { direction: 'inbound', peer_service: CALLER.serviceAccount }) >= 1);
      });
    }
  }

  it('TLS naming b\'s mesh identity in its SNI, straight to the app port, is b\'s sidecar\'s: its SPIFFE certificate, a handshake that fails for want of a client certificate, nothing for the app', async () => {
    const setup = s!;
    const logged = appLog(setup).length;
    const before = await counters(setup);
    // As uid 1337, a's iptables leaves it alone: it reaches b's sidecar as it was sent.
    const reply = await probe<TlsReply & { error?: string }>(setup, PROXY_UID, ['tls', setup.pods.b.ip, String(APP_PORT), CALLEE_SNI, '-', '/mesh-sni']);
    const after = await counters(setup);
    assert.match(reply.subjectaltname, new RegExp(`URI:spiffe://cluster\\.local/ns/default/sa/${CALLEE.serviceAccount}`));
    assert.notEqual(reply.fingerprint256, setup.fingerprint256);
    assert.ok(reply.error !== undefined, `the sidecar served a client without a certificate: ${JSON.stringify(reply)}`);
    assert.deepEqual(appLog(setup).slice(logged), []);
    const d = delta(before, after);
    // Terminated (and refused) by b's inbound, never opaque there.
    assert.deepEqual([d.aOutboundTcp, d.aOutboundHandshakes, d.bInboundTcp, d.bInboundHandshakes, d.handshakeErrors], [0, 0, 0, 0, 1]);
  });

  it('a mesh call to the app port is mTLS: b\'s inbound handshake counter does move', async () => {
    const setup = s!;
    const before = await counters(setup);
    const reply = await meshCall(setup, '/mesh-call');
    const after = await counters(setup);
    assert.deepEqual(reply.statuses, [200]);
    // b's sidecar terminated mTLS and gave the app plaintext HTTP.
    assert.deepEqual(JSON.parse(reply.bodies[0]!), { event: 'request', app: 'pod-tls-app', port: APP_PORT, tls: false, servername: null, method: 'GET', path: '/mesh-call', body: '' });
    const d = delta(before, after);
    assert.equal(d.bInboundHandshakes, 1);
    assert.equal(d.bInboundRequests, 1);
    assert.deepEqual([d.aOutboundTcp, d.bInboundTcp, d.handshakeErrors], [0, 0, 0]);
  });

  it('permissive: plaintext HTTP with a\'s sidecar skipped (uid 1337) is served, and a non-HTTP connection reaches the app', async () => {
    const setup = s!;
    const reply = await probe<HttpReply>(setup, PROXY_UID, ['http', setup.pods.b.ip, String(APP_PORT), '/bypass']);
    assert.equal(reply.status, 200, reply.body);
    assert.equal(JSON.parse(reply.body).path, '/bypass');
    const logged = appLog(setup).length;
    const raw = await probe<RawReply>(setup, PROXY_UID, ['raw', setup.pods.b.ip, String(APP_PORT), NOT_HTTP]);
    assert.deepEqual(appLog(setup).slice(logged).map((e) => [e.event, e.port]), [['connection', APP_PORT]]);
    assert.match(raw.received, /^HTTP\/1\.1 400 /, 'the app\'s HTTP server answered the garbage itself');
  });
});

describe('mtls: strict refuses plaintext and opaque TCP to the app port before the app, and serves mesh mTLS', () => {
  let s: Setup | undefined;

  before(async () => {
    s = await setUp({ 'payments.yaml': STRICT_POLICY });
    await waitFor(async () => (await configDump(s!.pods.b)).snapshot?.inbound?.access?.mtls === 'strict', 'b\'s sidecar to hold mtls: strict', 20_000);
  });
  after(() => s?.pods.destroy());

  it('plaintext HTTP with a\'s sidecar skipped (uid 1337) gets 403 petrel-error: RBAC and never reaches the app', async () => {
    const setup = s!;
    const logged = appLog(setup).length;
    const before = await counters(setup);
    const reply = await probe<HttpReply>(setup, PROXY_UID, ['http', setup.pods.b.ip, String(APP_PORT), '/plaintext']);
    const after = await counters(setup);
    assert.equal(reply.status, 403, reply.body);
    assert.equal(reply.headers['petrel-error'], 'RBAC');
    assert.deepEqual(appLog(setup).slice(logged), []);
    const d = delta(before, after);
    // It went nowhere near a's sidecar, and b's sidecar answered it as HTTP.
    assert.deepEqual([d.aOutboundTcp, d.aOutboundHandshakes, d.bInboundHandshakes, d.bInboundRequests], [0, 0, 0, 1]);
    assert.equal(await podMetric(setup.pods.b, 'petrel_requests_total', { direction: 'inbound', code: '403', tls: 'false' }), 1);
  });

  it('a non-HTTP connection to the app port with a\'s sidecar skipped (uid 1337) is closed, and the app accepts nothing', async () => {
    const setup = s!;
    const logged = appLog(setup).length;
    const before = await counters(setup);
    const raw = await probe<RawReply>(setup, PROXY_UID, ['raw', setup.pods.b.ip, String(APP_PORT), NOT_HTTP]);
    const after = await counters(setup);
    assert.equal(raw.received, '');
    assert.ok(raw.ending === 'end' || raw.ending === 'reset', `the connection ended by ${raw.ending}`);
    assert.deepEqual(appLog(setup).slice(logged), []);
    const d = delta(before, after);
    assert.equal(d.bInboundTcp, 1);
    assert.equal(d.aOutboundTcp, 0);
    assert.ok(await podMetric(setup.pods.b, 'petrel_tcp_connections_closed_total', { direction: 'inbound', flags: 'NR' }) >= 1);
  });

  it('the same non-HTTP bytes through a\'s sidecar ride mesh mTLS and reach the app: strict refuses plaintext, not protocols', async () => {
    const setup = s!;
    const logged = appLog(setup).length;
    const before = await counters(setup);
    const raw = await probe<RawReply>(setup, APP_UID, ['raw', setup.pods.b.ip, String(APP_PORT), NOT_HTTP]);
    const after = await counters(setup);
    assert.deepEqual(appLog(setup).slice(logged).map((e) => [e.event, e.port]), [['connection', APP_PORT]]);
    assert.match(raw.received, /^HTTP\/1\.1 400 /, 'the app\'s HTTP server answered the garbage itself');
    const d = delta(before, after);
    assert.deepEqual([d.aOutboundTcp, d.aOutboundHandshakes, d.bInboundTcp, d.bInboundHandshakes, d.handshakeErrors], [1, 1, 1, 1, 0]);
  });

  it('the mesh call through a\'s sidecar (mTLS) still gets 200 from the app', async () => {
    const setup = s!;
    const before = await counters(setup);
    const reply = await meshCall(setup, '/mesh-strict');
    const after = await counters(setup);
    assert.deepEqual(reply.statuses, [200], reply.bodies[0]);
    assert.equal(JSON.parse(reply.bodies[0]!).path, '/mesh-strict');
    assert.equal(await podMetric(setup.pods.b, 'petrel_requests_total', { direction: 'inbound', code: '200', tls: 'true', peer_service: CALLER.serviceAccount }), 1);
    assert.equal(delta(before, after).handshakeErrors, 0);
  });
});
