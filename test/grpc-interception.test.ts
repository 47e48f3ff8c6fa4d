// gRPC under transparent interception (two network-namespace pods, as in interception.test.ts):
// the app in pod a makes a plain grpc-js call to pod b's address and port, no proxy settings and no
// authority override. iptables sends it to a's sidecar, which must recognise the HTTP/2 preface,
// find service b by the original destination and apply b's retry policy per call: b's grpc-js app
// fails the first attempt with UNAVAILABLE, the client still sees success, and the app saw 2 calls.
// Needs root; run it alone (no other network-namespace test at the same time).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPodPair, NODE, type PodPair } from './harness/netns.ts';
import { APP_UID, configDir, iptables, podMetric, spawnPodSidecar, waitPodSidecarReady } from './harness/pod-sidecar.ts';
import { REPO, snapshot } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

const APP = join(REPO, 'test', 'harness', 'grpc-app.ts');
const CLIENT = join(REPO, 'test', 'harness', 'grpc-pod-client.ts');
const PORT = 50051;

describe('gRPC under iptables interception between two network-namespace pods', () => {
  let pods: PodPair;

  before(async () => {
    pods = createPodPair();
    const { a, b } = pods;
    const dir = configDir();
    const app = b.spawn([NODE, APP, `0.0.0.0:${PORT}`], APP_UID);
    const sidecarA = spawnPodSidecar(a, dir, 'a', snapshot(1, [{
      name: 'b', endpoints: [`${b.ip}:${PORT}`],
      policy: { retry: { attempts: 3, on: ['unavailable'], backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: { ratio: 1, minPerSecond: 1000 } } },
    }]), `127.0.0.1:${PORT}`);
    const sidecarB = spawnPodSidecar(b, dir, 'b', snapshot(1, []), `127.0.0.1:${PORT}`);
    await iptables(a, []);
    await iptables(b, []);
    await waitPodSidecarReady(a, sidecarA);
    await waitPodSidecarReady(b, sidecarB);
    await waitFor(() => app.output().includes('grpc app listening'), `the grpc app in pod b: ${app.output()}`);
  });

  after(() => pods?.destroy());

  it('a plain gRPC call from a to b\'s address gets a\'s retry policy: UNAVAILABLE once, then success', async () => {
    const { a, b } = pods;
    const script = { failTimes: 1, fail: { code: 14, details: 'first attempt fails' } };
    const result = await a.run([NODE, CLIENT, `${b.ip}:${PORT}`, JSON.stringify(script)], APP_UID);
    assert.equal(result.code, 0, `grpc-pod-client: ${result.stderr}`);
    const reply = JSON.parse(result.stdout) as { code: number; details: string; trailers: Record<string, string[]>; message?: string };
    assert.equal(reply.code, 0, `${reply.details} ${JSON.stringify(reply.trailers)}`);
    assert.equal(reply.message, 'hello');
    assert.deepEqual(reply.trailers['x-attempt'], ['2'], 'the app saw 2 calls: the failed one and its retry');
    // Both sidecars proxied it as gRPC: a once to the client's eyes, with one retry; b twice.
    const counted = async (pod: typeof a, name: string, labels: Record<string, string>, n: number): Promise<void> => {
      let value = Number.NaN;
      try {
        await waitFor(async () => (value = await podMetric(pod, name, labels)) === n, `${name} to reach ${n}`, 5000);
      } catch {
        assert.equal(value, n, `${pod.netns}: ${name}${JSON.stringify(labels)}`);
      }
    };
    await counted(a, 'petrel_requests_total', { direction: 'outbound', peer_service: 'b', grpc_status: '0' }, 1);
    await counted(a, 'petrel_retries_total', { peer_service: 'b' }, 1);
    await counted(b, 'petrel_requests_total', { direction: 'inbound', service: 'b' }, 2);
    await counted(b, 'petrel_requests_total', { direction: 'inbound', service: 'b', grpc_status: '14' }, 1);
  });
});
