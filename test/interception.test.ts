// Transparent interception with real Linux networking: two "pods" (network namespaces on a veth
// link), each running its app and a sidecar as uid 1337 behind the rules `petrel iptables` writes.
// The app in pod a calls pod b by plain address and port with no proxy settings; both sidecars'
// metrics prove the path, a retry policy proves the call was proxied with policies, skipped ports
// bypass the sidecars, and a server-first TCP protocol passes through as opaque TCP.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPodPair, NODE, type Pod, type PodPair } from './harness/netns.ts';
import { APP_UID, configDir, fetchInPod, iptables, podMetric as metric, PROXY_UID, spawnPodSidecar, waitPodSidecarReady } from './harness/pod-sidecar.ts';
import { PETREL, REPO, snapshot } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const CLIENT = join(REPO, 'test', 'harness', 'pod-client.ts');
const APP = join(REPO, 'test', 'harness', 'pod-app.ts');

async function client(pod: Pod, args: string[]): Promise<Record<string, unknown>> {
  const result = await pod.run([NODE, CLIENT, ...args], APP_UID);
  assert.equal(result.code, 0, `pod-client ${args.join(' ')}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

/** /proc status of `pid` or, when that is a launcher (ip, setpriv), of its first descendant run as `uid`. */
function statusAs(pid: number, uid: number): string | undefined {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status)) return status;
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean);
  for (const child of children) {
    const found = statusAs(Number(child), uid);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe('iptables interception between two network-namespace pods', { concurrency: false }, () => {
  let pods: PodPair;
  let sidecars: ChildProcess[] = [];

  before(async () => {
    pods = createPodPair();
    const { a, b } = pods;
    const dir = configDir();
    // Pod a knows service b by its pod address and app port, as EndpointSlices list it in Kubernetes.
    // Service b has an HTTPRoute that redirects every call: routes apply to calls to the Service, not
    // to a call to one of its pods by address (Gateway API MeshFrontend), so the app's calls to b's
    // pod IP below are never redirected, while b's ResiliencePolicy still applies to them.
    const configA = snapshot(1, [{
      name: 'b', endpoints: [`${b.ip}:8080`],
      policy: { retry: { attempts: 3, on: ['5xx'], backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: { ratio: 1, minPerSecond: 1000 } } },
      routing: {
        matches: [{ match: { path: { type: 'PathPrefix', value: '/' } }, rule: 0 }],
        rules: [{ name: 'moved', source: 'HTTPRoute default/b rule 0', backends: [], filters: { redirect: { hostname: 'elsewhere.example', statusCode: 302 } } }],
      },
    }]);
    const app = b.spawn([NODE, APP], APP_UID);
    const sidecarA = spawnPodSidecar(a, dir, 'a', configA, '127.0.0.1:8080');
    const sidecarB = spawnPodSidecar(b, dir, 'b', snapshot(1, []), '127.0.0.1:8080');
    sidecars = [sidecarA, sidecarB];
    // One pod on each iptables backend: a on iptables-legacy, b on whichever is detected (nft here).
    await iptables(a, ['--skip-outbound-ports', '9091', '--backend', 'legacy']);
    await iptables(b, ['--skip-inbound-ports', '9092']);
    await waitPodSidecarReady(a, sidecarA);
    await waitPodSidecarReady(b, sidecarB);
    await waitFor(() => app.output().includes('pod app listening'), 'the app in pod b');
  });

  after(() => pods?.destroy());

  it('the sidecars run as uid 1337, the owner iptables exempts, with no capability but reading files', () => {
    for (const proc of sidecars) {
      const status = statusAs(proc.pid ?? 0, PROXY_UID);
      assert.ok(status !== undefined, 'no process of uid 1337 under the sidecar launcher');
      assert.match(status, /^Uid:\s+1337\s+1337\s+1337\s+1337$/m);
      assert.match(status, /^Gid:\s+1337\s+1337\s+1337\s+1337$/m);
      // CAP_DAC_READ_SEARCH (bit 2) only: the checkout may be in a directory only root can enter.
      assert.match(status, /^CapEff:\s+0000000000000004$/m);
    }
  });

  it('writes the rules `petrel iptables --dry-run` prints', async () => {
    const dry = await pods.a.run([NODE, PETREL, 'iptables', '--dry-run', '--skip-outbound-ports', '9091']);
    const saved = await pods.a.run(['iptables-legacy-save', '-t', 'nat']);
    assert.equal((await pods.a.run(['iptables-nft-save', '-t', 'nat'])).stdout.includes('PETREL'), false, 'a\'s rules are legacy only');
    for (const rule of dry.stdout.split('\n').filter((line) => line.startsWith('-A'))) {
      assert.ok(saved.stdout.includes(rule), `applied rules lack "${rule}":\n${saved.stdout}`);
    }
  });

  it('a plain call from app a to pod b crosses a\'s outbound and b\'s inbound sidecar, with a\'s retry policy and none of b\'s routes', async () => {
    const { a, b } = pods;
    const before = {
      out: await metric(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'b' }),
      in: await metric(b, 'petrel_requests_total', { direction: 'inbound', service: 'b', peer_service: 'a' }),
      retries: await metric(a, 'petrel_retries_total', { peer_service: 'b' }),
    };
    const result = await client(a, ['get', `http://${b.ip}:8080/hello`, '30']) as { statuses: number[]; bodies: string[] };
    // b's app fails every third request; a's retry policy hides every failure from the app.
    assert.deepEqual(result.statuses, Array(30).fill(200));
    assert.ok(result.bodies.every((body) => body === 'hello from b (no peer header)'), result.bodies[0]);
    const out = await metric(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'b', code: '200' }) - before.out;
    const retries = await metric(a, 'petrel_retries_total', { peer_service: 'b' }) - before.retries;
    const inbound = await metric(b, 'petrel_requests_total', { direction: 'inbound', service: 'b', peer_service: 'a' }) - before.in;
    const inbound503 = await metric(b, 'petrel_requests_total', { direction: 'inbound', service: 'b', peer_service: 'a', code: '503' });
    assert.equal(out, 30, 'a\'s outbound sidecar saw each call once');
    assert.ok(retries >= 9, `a retried the 503s (${retries})`);
    // Every attempt a sent reached b's inbound sidecar exactly once: no loop through a's own listener.
    assert.equal(inbound, 30 + retries);
    assert.equal(inbound503, retries);
  });

  it('the sidecars\' own connections are not redirected (no loop)', async () => {
    const { a } = pods;
    // Were uid 1337 redirected, a's forward to b would re-enter a's outbound listener and count twice.
    const passthrough = await metric(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'passthrough' });
    const outboundB = await metric(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'b' });
    assert.ok(outboundB >= 30);
    assert.equal(passthrough, 0, 'no request of a\'s own came back as passthrough');
  });

  it('a skipped outbound port bypasses a\'s sidecar; a skipped inbound port bypasses b\'s', async () => {
    const { a, b } = pods;
    const aTotal = () => metric(a, 'petrel_requests_total', { direction: 'outbound' });
    const aTcp = () => metric(a, 'petrel_tcp_connections_opened_total', { direction: 'outbound' });
    const bTcp = () => metric(b, 'petrel_tcp_connections_opened_total', { direction: 'inbound' });
    const bInbound = () => metric(b, 'petrel_requests_total', { direction: 'inbound' });

    // 9091 is skipped by a's outbound rules: a's sidecar sees nothing; b intercepts it (not its app
    // port) and passes it through as opaque TCP.
    let [a0, at0, b0, bi0] = [await aTotal(), await aTcp(), await bTcp(), await bInbound()];
    assert.deepEqual(await client(a, ['get', `http://${b.ip}:9091/`]), { statuses: [200], bodies: ['9091'] });
    assert.equal(await aTotal() - a0, 0);
    assert.equal(await aTcp() - at0, 0);
    assert.equal(await bTcp() - b0, 1);
    assert.equal(await bInbound() - bi0, 0);

    // 9092 is skipped by b's inbound rules: a's sidecar passes the request through; b's sees nothing.
    [a0, at0, b0, bi0] = [await aTotal(), await aTcp(), await bTcp(), await bInbound()];
    assert.deepEqual(await client(a, ['get', `http://${b.ip}:9092/`]), { statuses: [200], bodies: ['9092'] });
    assert.equal(await metric(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'passthrough', code: '200' }), 1);
    assert.equal(await aTotal() - a0, 1);
    assert.equal(await bTcp() - b0, 0);
    assert.equal(await bInbound() - bi0, 0);
  });

  it('a server-first TCP protocol passes through both sidecars as opaque TCP, with byte metrics', async () => {
    const { a, b } = pods;
    const labelsA = { direction: 'outbound', peer_service: 'passthrough' };
    const labelsB = { direction: 'inbound', peer_service: 'unknown' };
    const [a0, b0] = [await metric(a, 'petrel_tcp_connections_closed_total', labelsA), await metric(b, 'petrel_tcp_connections_closed_total', labelsB)];
    const [aSent0, bRecv0] = [await metric(a, 'petrel_tcp_sent_bytes_total', labelsA), await metric(b, 'petrel_tcp_received_bytes_total', labelsB)];
    const result = await client(a, ['tcp', b.ip, '7000', 'ping']);
    assert.equal(result.received, 'HELLO petrel-test\nping\n');
    await waitFor(async () => await metric(a, 'petrel_tcp_connections_closed_total', labelsA) - a0 === 1, 'a to count the closed TCP connection');
    await waitFor(async () => await metric(b, 'petrel_tcp_connections_closed_total', labelsB) - b0 === 1, 'b to count the closed TCP connection');
    assert.equal(await metric(a, 'petrel_tcp_connections_closed_total', { ...labelsA, flags: '-' }) >= 1, true);
    // banner (18 bytes) + echo (5) went back to the client; "ping\n" (5) came from it.
    assert.equal(await metric(a, 'petrel_tcp_sent_bytes_total', labelsA) - aSent0, 23);
    assert.equal(await metric(b, 'petrel_tcp_received_bytes_total', labelsB) - bRecv0, 5);
  });

  it('keeps the pod\'s loopback private: a service bound to 127.0.0.1 and the sidecar\'s own ports are unreachable from another pod', async () => {
    const { a, b } = pods;
    const refused = () => metric(b, 'petrel_tcp_connections_closed_total', { direction: 'inbound', flags: 'NR' });
    const refusedBefore = await refused();
    // 7001 listens on b's loopback only. Interception passes inbound traffic to the address the
    // client dialled (b's pod IP), never to 127.0.0.1, so the connection finds nothing.
    assert.deepEqual(await client(a, ['tcp', b.ip, '7001', 'x']), { received: '' });
    // b's outbound listener (15001) and inbound listener serve b's own processes only; a
    // connection redirected to them from outside is refused and counted.
    assert.deepEqual(await client(a, ['tcp', b.ip, '15001', 'x']), { received: '' });
    await waitFor(async () => await refused() - refusedBefore === 1, 'b to count the refused connection to its outbound port');
    // The same call from inside b reaches its private service: it exists, it is only not exposed.
    const inside = await b.run([NODE, CLIENT, 'tcp', '127.0.0.1', '7001', 'x'], APP_UID);
    assert.equal(JSON.parse(inside.stdout).received, 'PRIVATE\nx\n');
  });

  it('admin: /metrics answers anyone, /config_dump only loopback (403 from pod a)', async () => {
    const { a, b } = pods;
    assert.equal((await fetchInPod(a, `http://${b.ip}:15000/metrics`)).status, 200);
    const dump = await fetchInPod(a, `http://${b.ip}:15000/config_dump`);
    assert.equal(dump.status, 403, dump.body);
    assert.equal((await fetchInPod(b, 'http://127.0.0.1:15000/config_dump')).status, 200);
  });

  it('--cleanup removes every rule; calls then go straight to the app', async () => {
    const { a, b } = pods;
    await iptables(a, ['--cleanup']);
    const saved = await a.run(['iptables-legacy-save', '-t', 'nat']);
    assert.doesNotMatch(saved.stdout, /PETREL/);
    const before = await metric(a, 'petrel_requests_total', { direction: 'outbound' });
    const result = await client(a, ['get', `http://${b.ip}:9091/`]);
    assert.deepEqual(result.statuses, [200]);
    assert.equal(await metric(a, 'petrel_requests_total', { direction: 'outbound' }), before);
  });
});
