// Mesh mTLS on the wire, under transparent interception: two network-namespace pods (netns.ts) on one
// veth link, each with a sidecar as uid 1337 behind `petrel iptables`, both getting their certificates
// from a control plane (the mesh CA). The app in pod a POSTs a distinctive body to a distinctive path
// at pod b's address and app port, with no proxy settings; tcpdump records the veth meanwhile.
// Every call succeeds, the capture holds a TLS handshake to b's app port that names b's identity in
// its SNI, and neither the path nor the body appears anywhere in it; b's sidecar counts the calls as
// tls="true" from the caller's service account, which only its certificate can have told. The same
// capture of a mesh without identity (control plane --no-identity) finds both in plaintext: the
// check can fail. Needs root and tcpdump; run it alone (no other network-namespace test at the same time).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPodPair, NODE, type Pod, type PodPair } from './harness/netns.ts';
import { readPcap, type Capture } from './harness/pcap.ts';
import { APP_UID, configDir, fetchInPod, iptables, podMetric, PROXY_UID, waitPodSidecarReady } from './harness/pod-sidecar.ts';
import { PETREL, REPO } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const APP = join(REPO, 'test', 'harness', 'pod-echo-app.ts');
const CLIENT = join(REPO, 'test', 'harness', 'pod-client.ts');
const APP_PORT = 8080;
const STREAM_PORT = 15010;
const API_PORT = 15014;
const CALLS = 20;
/** The client pod's service and the service account its certificate names (not the service name, on purpose). */
const CALLER = { service: 'web', serviceAccount: 'frontend' };
const CALLEE = { service: 'payments', serviceAccount: 'payments' };
const CALLEE_SNI = `${CALLEE.serviceAccount}.default.serviceaccount.identity.petrel.cluster.local`;

interface Run {
  pods: PodPair;
  path: string;
  marker: string;
  statuses: number[];
  replies: string[];
  /** What b's app saw, one entry per request. */
  seen: { method: string; path: string; body: string }[];
  capture: Capture;
  /** b's inbound petrel_requests_total during the calls, by tls label, from CALLER's service account. */
  inbound: { tls: number; plain: number; tlsFromCaller: number };
  /** TLS handshakes during the calls: a's outbound, b's inbound, and failed ones on either side. */
  handshakes: { aOutbound: number; bInbound: number; errors: number };
}

type Spawned = ReturnType<Pod['spawn']>;

function spawnSidecar(pod: Pod, who: { service: string; serviceAccount: string }, control: string, app: boolean): Spawned {
  return pod.spawn([NODE, PETREL, 'sidecar', '--service', who.service, '--service-account', who.serviceAccount,
    '--control', control, '--advertise', `${pod.ip}:${APP_PORT}`, ...(app ? ['--app', `127.0.0.1:${APP_PORT}`] : []),
    '--access-log', 'off', '--drain-delay', '0s'], PROXY_UID);
}

async function configDump(pod: Pod): Promise<{ snapshot: { services?: { name: string; endpoints: { address: string; identity?: string }[] }[]; identity?: unknown } | null }> {
  return JSON.parse((await fetchInPod(pod, 'http://127.0.0.1:15000/config_dump')).body) as Awaited<ReturnType<typeof configDump>>;
}

/**
 * Builds the two pods with a control plane (in pod b, bound to b's address, its stream port skipped
 * by b's inbound interception so pod a's sidecar reaches it, as a control plane in its own pod would
 * be), waits until a's sidecar knows b's endpoint (with identity when the mesh has it), then makes
 * CALLS POSTs from a's app to b under tcpdump on a's end of the veth.
 */
async function captureCalls(pods: PodPair, identity: boolean): Promise<Run> {
  const { a, b } = pods;
  const dir = configDir();
  const control = b.spawn([NODE, PETREL, 'control', '--policies', dir, '--host', b.ip, '--stream-port', String(STREAM_PORT),
    '--api-port', String(API_PORT), '--startup-grace', '0s', '--cert-ttl', '1h', ...(identity ? [] : ['--no-identity'])]);
  await waitFor(async () => {
    if (control.exitCode !== null) throw new Error(`the control plane exited: ${control.output()}`);
    return fetchInPod(b, `http://${b.ip}:${API_PORT}/ready`).then((r) => r.status === 200, () => false);
  }, 'the control plane in pod b', 20_000);
  await iptables(a, []);
  await iptables(b, ['--skip-inbound-ports', String(STREAM_PORT)]);
  const app = b.spawn([NODE, APP, String(APP_PORT)], APP_UID);
  const streamUrl = `http://${b.ip}:${STREAM_PORT}`;
  const sidecarA = spawnSidecar(a, CALLER, streamUrl, false);
  const sidecarB = spawnSidecar(b, CALLEE, streamUrl, true);
  await waitFor(() => app.output().includes('echo app listening'), `the app in pod b: ${app.output()}`);
  await waitPodSidecarReady(a, sidecarA);
  await waitPodSidecarReady(b, sidecarB);
  // No warm-up call: the capture must hold the first handshake between the two sidecars.
  await waitFor(async () => {
    const dump = await configDump(a);
    const endpoint = dump.snapshot?.services?.find((s) => s.name === CALLEE.service)?.endpoints.find((e) => e.address === `${b.ip}:${APP_PORT}`);
    return endpoint !== undefined && (!identity || endpoint.identity !== undefined);
  }, `pod a's sidecar to learn ${CALLEE.service} at ${b.ip}:${APP_PORT}`, 20_000);
  if (identity) {
    for (const pod of [a, b]) {
      await waitFor(async () => (JSON.parse((await fetchInPod(pod, 'http://127.0.0.1:15000/ready?details=1')).body) as { mtls: string }).mtls === 'on', `a certificate in ${pod.netns}`);
    }
  }

  const secret = randomBytes(8).toString('hex');
  const path = `/secret-path-${secret}`;
  const marker = `body-marker-${randomBytes(8).toString('hex')}`;
  const inboundCount = (labels: Record<string, string>) => podMetric(b, 'petrel_requests_total', { direction: 'inbound', service: CALLEE.service, ...labels });
  const before = { tls: await inboundCount({ tls: 'true' }), plain: await inboundCount({ tls: 'false' }), tlsFromCaller: await inboundCount({ tls: 'true', peer_service: CALLER.serviceAccount, code: '200' }) };
  const handshakeCounts = async () => ({
    aOutbound: await podMetric(a, 'petrel_tls_handshakes_total', { direction: 'outbound' }),
    bInbound: await podMetric(b, 'petrel_tls_handshakes_total', { direction: 'inbound' }),
    errors: await podMetric(a, 'petrel_tls_handshake_errors_total', {}) + await podMetric(b, 'petrel_tls_handshake_errors_total', {}),
  });
  const handshakesBefore = await handshakeCounts();

  const file = join(dir, 'veth.pcap');
  // -Z root: Debian's tcpdump otherwise drops to its own user before opening the file.
  // --immediate-mode: without it libpcap (TPACKET_V3) hands packets over a ring block at a time, and
  // those still in the kernel's block when SIGINT arrives are counted "received by filter" but never
  // written; -U then writes each one to the file as soon as tcpdump has it.
  const tcpdump = a.spawn(['tcpdump', '-i', a.link, '-n', '-U', '--immediate-mode', '-s', '0', '-Z', 'root', '-w', file]);
  await waitFor(() => {
    if (tcpdump.exitCode !== null) throw new Error(`tcpdump exited: ${tcpdump.output()}`);
    return tcpdump.output().includes('listening on');
  }, 'tcpdump to capture');
  let result;
  try {
    result = await a.run([NODE, CLIENT, 'post', `http://${b.ip}:${APP_PORT}${path}`, String(CALLS), marker], APP_UID, 60_000);
  } finally {
    const exited = new Promise((resolve) => tcpdump.once('exit', resolve));
    tcpdump.kill('SIGINT');
    await exited;
  }
  // tcpdump's own count, printed on exit: every packet it received was written.
  const counts = /(\d+) packets? captured\n(\d+) packets? received by filter\n(\d+) packets? dropped by kernel/.exec(tcpdump.output());
  assert.ok(counts !== null, `tcpdump's summary: ${tcpdump.output()}`);
  assert.ok(counts[1] === counts[2] && counts[3] === '0', `tcpdump lost packets: ${tcpdump.output()}`);
  assert.equal(result.code, 0, `pod-client post: ${result.stderr}`);
  const { statuses, bodies } = JSON.parse(result.stdout) as { statuses: number[]; bodies: string[] };
  const seen = app.output().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Run['seen'][number]);
  const inbound = {
    tls: await inboundCount({ tls: 'true' }) - before.tls,
    plain: await inboundCount({ tls: 'false' }) - before.plain,
    tlsFromCaller: await inboundCount({ tls: 'true', peer_service: CALLER.serviceAccount, code: '200' }) - before.tlsFromCaller,
  };
  const handshakesAfter = await handshakeCounts();
  const handshakes = {
    aOutbound: handshakesAfter.aOutbound - handshakesBefore.aOutbound,
    bInbound: handshakesAfter.bInbound - handshakesBefore.bInbound,
    errors: handshakesAfter.errors - handshakesBefore.errors,
  };
  return { pods, path, marker, statuses, replies: bodies, seen, capture: readPcap(file), inbound, handshakes };
}

/** Where `needle` occurs in the capture: in the raw file bytes, or in a TCP stream's joined payload. */
function occurrences(capture: Capture, needle: string): string[] {
  const found: string[] = [];
  if (capture.raw.includes(needle)) found.push('raw capture bytes');
  for (const [flow, bytes] of capture.streams) if (bytes.includes(needle)) found.push(flow);
  return found;
}

function callsSucceeded(run: Run): void {
  assert.deepEqual(run.statuses, Array(CALLS).fill(200), run.replies.find((r) => !r.includes(run.marker)));
  assert.equal(run.seen.length, CALLS, 'b\'s app saw each call once');
  for (const seen of run.seen) assert.deepEqual(seen, { method: 'POST', path: run.path, body: run.marker });
  for (const reply of run.replies) assert.deepEqual(JSON.parse(reply), { method: 'POST', path: run.path, body: run.marker });
}

describe('mesh mTLS between two network-namespace pods under iptables interception, seen by tcpdump on the veth', () => {
  let pods: PodPair | undefined;
  let run: Run;

  before(async () => {
    pods = createPodPair();
    run = await captureCalls(pods, true);
  });

  after(() => pods?.destroy());

  it('every call succeeds, and b\'s app saw the path and the body', () => {
    callsSucceeded(run);
  });

  it('the capture holds the calls as TLS to b\'s app port: a ClientHello naming b\'s identity, then application data', () => {
    const { capture } = run;
    const b = run.pods.b;
    assert.ok(capture.packets > 0 && capture.segments.length > 0, 'the capture is empty');
    const toApp = capture.segments.filter((s) => s.dst === b.ip && s.dstPort === APP_PORT && s.payload.length > 0);
    assert.ok(toApp.length > 0, `no payload to ${b.ip}:${APP_PORT} in ${capture.packets} packets`);
    const hellos = toApp.filter((s) => s.payload[0] === 0x16 && s.payload[1] === 0x03);
    assert.ok(hellos.length > 0, `no TLS handshake record to ${b.ip}:${APP_PORT}; first bytes seen: ${toApp.map((s) => s.payload.subarray(0, 2).toString('hex')).join(' ')}`);
    assert.ok(hellos.some((s) => s.payload.includes(CALLEE_SNI)), `no ClientHello with SNI ${CALLEE_SNI}`);
    // Each direction of each connection to the app port is nothing but TLS records from its first byte.
    const flows = [...capture.streams].filter(([flow]) => flow.endsWith(`>${b.ip}:${APP_PORT}`) || flow.startsWith(`${b.ip}:${APP_PORT}>`));
    assert.ok(flows.length >= 2, `flows to and from the app port: ${flows.map(([f]) => f).join(', ')}`);
    for (const [flow, bytes] of flows) assert.deepEqual([...bytes.subarray(0, 3)], [0x16, 0x03, bytes[2]], `${flow} does not open with a TLS handshake record`);
    assert.ok(flows.some(([, bytes]) => bytes.includes(Buffer.from([0x17, 0x03, 0x03]))), 'no TLS application data record');
    // The sidecars' handshake counters agree with the wire: one handshake per ClientHello, none failed.
    assert.deepEqual(run.handshakes, { aOutbound: hellos.length, bInbound: hellos.length, errors: 0 });
  });

  it('neither the request path nor the body marker appears anywhere in the capture', () => {
    assert.deepEqual(occurrences(run.capture, run.path.slice(1)), [], `the path ${run.path} is on the wire`);
    assert.deepEqual(occurrences(run.capture, run.marker), [], `the body marker ${run.marker} is on the wire`);
  });

  it('b\'s sidecar counted every call as tls="true" from the caller\'s service account', () => {
    assert.deepEqual(run.inbound, { tls: CALLS, plain: 0, tlsFromCaller: CALLS });
  });
});

describe('the same capture of a plaintext mesh (control plane --no-identity) finds the path and the body: the check can fail', () => {
  let pods: PodPair | undefined;
  let run: Run;

  before(async () => {
    pods = createPodPair();
    run = await captureCalls(pods, false);
  });

  after(() => pods?.destroy());

  it('every call succeeds, in plaintext', () => {
    callsSucceeded(run);
    assert.deepEqual(run.inbound, { tls: 0, plain: CALLS, tlsFromCaller: 0 });
    assert.deepEqual(run.handshakes, { aOutbound: 0, bInbound: 0, errors: 0 });
  });

  it('the path and the body marker are in the capture, in the raw bytes and in the flow to b\'s app port', () => {
    const flow = `>${run.pods.b.ip}:${APP_PORT}`;
    for (const needle of [run.path.slice(1), run.marker]) {
      const where = occurrences(run.capture, needle);
      assert.ok(where.includes('raw capture bytes'), `${needle} not in the raw capture: ${where.join(', ')}`);
      assert.ok(where.some((w) => w.endsWith(flow)), `${needle} not in a flow to ${flow}: ${where.join(', ')}`);
    }
  });
});
