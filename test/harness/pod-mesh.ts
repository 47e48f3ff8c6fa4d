// A two-pod mesh under transparent interception with mesh identity, as test/mtls-netns.test.ts builds
// it: a control plane (the mesh CA) in pod b bound to b's address, its stream port skipped by b's
// inbound interception so pod a's sidecar reaches it (as a control plane in a pod of its own would
// be); `petrel iptables` in both pods; a sidecar as uid 1337 in each, a calling service in a (no
// app) and the called service in b (its app given by the test). Returns once both sidecars are ready
// with a certificate and a's sidecar lists b's endpoint with its identity.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NODE, type Pod, type PodPair } from './netns.ts';
import { APP_UID, configDir, fetchInPod, iptables, PROXY_UID, waitPodSidecarReady } from './pod-sidecar.ts';
import { PETREL } from './processes.ts';
import { waitFor } from './wait.ts';

type Spawned = ReturnType<Pod['spawn']>;

export interface Workload { service: string; serviceAccount: string }

export interface MeshPodsInput {
  caller: Workload;
  callee: Workload;
  /** The port b's app serves HTTP on, b's advertised endpoint. */
  appPort: number;
  /** b's app, run as APP_UID; `ready` is a line of its output that says it listens. */
  app: { command: string[]; ready: string };
  /** Files written to the control plane's --policies directory before it starts. */
  policies?: Record<string, string>;
  streamPort?: number;
  apiPort?: number;
}

export interface MeshPods {
  /** The control plane's policy directory (readable by uid 1337 and APP_UID): a place for test files too. */
  dir: string;
  control: Spawned;
  app: Spawned;
  sidecarA: Spawned;
  sidecarB: Spawned;
}

export interface ConfigDump {
  snapshot: {
    services?: { name: string; endpoints: { address: string; identity?: string }[] }[];
    inbound?: { access?: { mtls: string; rules?: unknown[] } };
    identity?: unknown;
  } | null;
}

export async function configDump(pod: Pod): Promise<ConfigDump> {
  return JSON.parse((await fetchInPod(pod, 'http://127.0.0.1:15000/config_dump')).body) as ConfigDump;
}

export async function startMeshPods(pods: PodPair, input: MeshPodsInput): Promise<MeshPods> {
  const { a, b } = pods;
  const streamPort = input.streamPort ?? 15010;
  const apiPort = input.apiPort ?? 15014;
  const dir = configDir();
  for (const [name, text] of Object.entries(input.policies ?? {})) writeFileSync(join(dir, name), text);
  const control = b.spawn([NODE, PETREL, 'control', '--policies', dir, '--host', b.ip, '--stream-port', String(streamPort),
    '--api-port', String(apiPort), '--startup-grace', '0s', '--cert-ttl', '1h']);
  await waitFor(async () => {
    if (control.exitCode !== null) throw new Error(`the control plane exited: ${control.output()}`);
    return fetchInPod(b, `http://${b.ip}:${apiPort}/ready`).then((r) => r.status === 200, () => false);
  }, 'the control plane in pod b', 20_000);
  await iptables(a, []);
  await iptables(b, ['--skip-inbound-ports', String(streamPort)]);
  const app = b.spawn(input.app.command, APP_UID);
  const streamUrl = `http://${b.ip}:${streamPort}`;
  const sidecar = (pod: Pod, who: Workload, withApp: boolean) => pod.spawn([NODE, PETREL, 'sidecar', '--service', who.service,
    '--service-account', who.serviceAccount, '--control', streamUrl, '--advertise', `${pod.ip}:${input.appPort}`,
    ...(withApp ? ['--app', `127.0.0.1:${input.appPort}`] : []), '--access-log', 'off', '--drain-delay', '0s'], PROXY_UID);
  const sidecarA = sidecar(a, input.caller, false);
  const sidecarB = sidecar(b, input.callee, true);
  await waitFor(() => {
    if (app.exitCode !== null) throw new Error(`the app in pod b exited: ${app.output()}`);
    return app.output().includes(input.app.ready);
  }, `the app in pod b: ${app.output()}`);
  await waitPodSidecarReady(a, sidecarA);
  await waitPodSidecarReady(b, sidecarB);
  await waitFor(async () => {
    const endpoint = (await configDump(a)).snapshot?.services?.find((s) => s.name === input.callee.service)?.endpoints.find((e) => e.address === `${b.ip}:${input.appPort}`);
    return endpoint?.identity !== undefined;
  }, `pod a's sidecar to learn ${input.callee.service} at ${b.ip}:${input.appPort} with its identity`, 20_000);
  for (const pod of [a, b]) {
    await waitFor(async () => (JSON.parse((await fetchInPod(pod, 'http://127.0.0.1:15000/ready?details=1')).body) as { mtls: string }).mtls === 'on', `a certificate in ${pod.netns}`);
  }
  return { dir, control, app, sidecarA, sidecarB };
}
