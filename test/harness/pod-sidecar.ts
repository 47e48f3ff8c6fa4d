// Sidecars in network-namespace pods (see netns.ts), as the injected pod runs them: as uid 1337,
// behind the rules `petrel iptables` writes, with admin on 15000. Helpers to start one, wait for it,
// and read its admin endpoints from inside a pod.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { NODE, type Pod } from './netns.ts';
import { parseMetrics, sampleValue, type Labels } from './prometheus.ts';
import { PETREL, tempDir } from './processes.ts';
import { waitFor } from './wait.ts';

export const PROXY_UID = 1337;
export const APP_UID = 1000;

/** fetch() run by node inside the pod (as root): the answer's status and body. */
export async function fetchInPod(pod: Pod, url: string): Promise<{ status: number; body: string }> {
  const code = `fetch(${JSON.stringify(url)}).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { process.stderr.write(String(e)); process.exit(1) })`;
  const result = await pod.run([NODE, '-e', code]);
  if (result.code !== 0) throw new Error(`fetch ${url} in ${pod.netns} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as { status: number; body: string };
}

/** One sample (summed over matching labels) of the pod's sidecar metrics. */
export async function podMetric(pod: Pod, name: string, labels: Labels): Promise<number> {
  const { body } = await fetchInPod(pod, 'http://127.0.0.1:15000/metrics');
  return sampleValue(parseMetrics(body), name, labels);
}

/** Runs `petrel iptables ARGS` in the pod, as the init container would. */
export async function iptables(pod: Pod, args: string[]): Promise<void> {
  const result = await pod.run([NODE, PETREL, 'iptables', ...args]);
  assert.equal(result.code, 0, `petrel iptables ${args.join(' ')} in ${pod.netns}: ${result.stderr}`);
}

/** A directory the sidecars (uid 1337) can read, for their snapshot files. */
export function configDir(): string {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  return dir;
}

/** Writes the snapshot to DIR/NAME.yaml and starts `petrel sidecar` in the pod as uid 1337. */
export function spawnPodSidecar(pod: Pod, dir: string, service: string, config: Record<string, unknown>, app: string): ChildProcess & { output(): string } {
  const file = join(dir, `${service}.yaml`);
  writeFileSync(file, stringify(config));
  return pod.spawn([NODE, PETREL, 'sidecar', '--service', service, '--config', file, '--app', app, '--access-log', 'off'], PROXY_UID);
}

/** Waits for the pod's sidecar to answer /ready with 200; fails at once if it exited. */
export async function waitPodSidecarReady(pod: Pod, proc: ChildProcess & { output(): string }): Promise<void> {
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`the sidecar in ${pod.netns} exited: ${proc.output()}`);
    try {
      return (await fetchInPod(pod, 'http://127.0.0.1:15000/ready')).status === 200;
    } catch {
      return false;
    }
  }, `the sidecar in ${pod.netns} to be ready`, 20_000);
}
