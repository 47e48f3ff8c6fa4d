// Runs real Petrel processes for tests: picks free ports, writes the snapshot file, waits for
// /ready, and kills every child when the test process ends, whatever happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { parseMetrics, sampleValue, type Labels } from './prometheus.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
/** The built CLI: tests run what users run (`npm test` builds first). */
export const PETREL = join(REPO, 'dist', 'bin', 'petrel.js');

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

export { freePort } from '../../demo/local-mesh.ts';
import { freePort } from '../../demo/local-mesh.ts';

export function tempDir(prefix = 'petrel-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface SnapshotServiceInput {
  name: string;
  namespace?: string;
  endpoints: string[];
  policy?: Record<string, unknown>;
  /** A RoutingSpec (api/types.ts), as the control plane compiles HTTPRoutes. */
  routing?: Record<string, unknown>;
}

export function snapshot(version: number, services: SnapshotServiceInput[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'petrel.dev/v1alpha1',
    kind: 'SidecarSnapshot',
    version,
    ...extra,
    services: services.map((s) => ({
      name: s.name,
      namespace: s.namespace ?? 'default',
      endpoints: s.endpoints.map((address) => ({ address })),
      ...(s.policy ? { policy: s.policy } : {}),
      ...(s.routing ? { routing: s.routing } : {}),
    })),
  };
}

export interface SidecarHandle {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly inboundPort: number;
  readonly outboundPort: number;
  readonly adminPort: number;
  readonly configFile: string;
  /** Everything the process wrote so far. */
  output(): string;
  admin(path: string, init?: RequestInit): Promise<Response>;
  metrics(): Promise<string>;
  metric(name: string, labels?: Labels): Promise<number>;
  /** Resident set size in kB, from /proc. */
  rssKb(): number;
  /** Peak resident set size in kB (VmHWM). */
  peakRssKb(): number;
  /** Open file descriptors (sockets included). */
  fdCount(): number;
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

export interface SidecarInput {
  service: string;
  app?: string;
  /** The snapshot for --config; omitted, the sidecar starts with no config at all. */
  config?: Record<string, unknown> | string;
  args?: string[];
  env?: Record<string, string>;
  /** Wait for /ready to answer 200 (default); false: only for the admin listener to answer at all. */
  waitReady?: boolean;
}

function procStatusKb(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

export async function startSidecar(input: SidecarInput): Promise<SidecarHandle> {
  const [inboundPort, outboundPort, adminPort] = [await freePort(), await freePort(), await freePort()];
  const dir = tempDir();
  const configFile = join(dir, 'snapshot.yaml');
  if (input.config !== undefined) writeFileSync(configFile, typeof input.config === 'string' ? input.config : stringify(input.config));
  const args = [
    PETREL, 'sidecar', '--service', input.service, ...(input.config === undefined ? [] : ['--config', configFile]),
    '--inbound-port', String(inboundPort), '--inbound-host', '127.0.0.1',
    '--outbound-port', String(outboundPort), '--admin-port', String(adminPort), '--admin-host', '127.0.0.1',
    ...(input.app ? ['--app', input.app] : []), ...(input.args ?? []),
    // Tests stop sidecars whose callers are gone too: no drain delay unless the test asks for one.
    ...(input.args?.includes('--drain-delay') ? [] : ['--drain-delay', '0s']),
  ];
  const proc = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, ...input.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<number | null>((resolveExit) => proc.once('exit', (code) => { children.delete(proc); resolveExit(code); }));
  const pid = proc.pid as number;
  const adminBase = `http://127.0.0.1:${adminPort}`;
  const handle: SidecarHandle = {
    proc, pid, inboundPort, outboundPort, adminPort, configFile,
    output: () => out,
    admin: (path, init) => fetch(`${adminBase}${path}`, init),
    metrics: async () => (await fetch(`${adminBase}/metrics`)).text(),
    metric: async (name, labels = {}) => sampleValue(parseMetrics(await handle.metrics()), name, labels),
    rssKb: () => procStatusKb(pid, 'VmRSS'),
    peakRssKb: () => procStatusKb(pid, 'VmHWM'),
    fdCount: () => readdirSync(`/proc/${pid}/fd`).length,
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exit;
    },
    exited: () => exit,
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`sidecar exited with ${proc.exitCode}:\n${out}`);
    try {
      const status = (await handle.admin('/ready')).status;
      if (status === 200 || input.waitReady === false) return handle;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`sidecar not ready after 20s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Runs the CLI to completion and returns its exit code and output. */
export async function runPetrel(args: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, [PETREL, ...args], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  proc.stdin.end(stdin ?? '');
  const code = await new Promise<number | null>((r) => proc.once('exit', (c) => { children.delete(proc); r(c); }));
  return { code, stdout, stderr };
}

export function writeConfig(handle: SidecarHandle, config: Record<string, unknown> | string): void {
  writeFileSync(handle.configFile, typeof config === 'string' ? config : stringify(config));
}

export interface ControlHandle {
  readonly proc: ChildProcess;
  readonly streamPort: number;
  readonly apiPort: number;
  readonly streamUrl: string;
  readonly apiUrl: string;
  output(): string;
  status(): Promise<{ sidecars: { service: string; address: string; version: number | null; state: string; error: string | null; connected: boolean }[]; policies: { count: number; rejected: { origin: string; errors: string[] }[] } }>;
  metric(name: string, labels?: Labels): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface ControlInput {
  policiesDir: string;
  tokenFile?: string;
  /** Reuse ports (a restart); fresh ones otherwise. */
  ports?: { stream: number; api: number };
  args?: string[];
}

export async function startControl(input: ControlInput): Promise<ControlHandle> {
  const streamPort = input.ports?.stream ?? await freePort();
  const apiPort = input.ports?.api ?? await freePort();
  const args = [PETREL, 'control', '--policies', input.policiesDir, '--stream-port', String(streamPort), '--api-port', String(apiPort),
    ...(input.tokenFile ? ['--token-file', input.tokenFile] : []), ...(input.args ?? [])];
  const proc = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const exit = new Promise<number | null>((resolveExit) => proc.once('exit', (code) => { children.delete(proc); resolveExit(code); }));
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // With a token, /v1/status wants it too.
  const statusHeaders: Record<string, string> = input.tokenFile ? { authorization: `Bearer ${readFileSync(input.tokenFile, 'utf8').trim()}` } : {};
  const handle: ControlHandle = {
    proc, streamPort, apiPort, streamUrl: `http://127.0.0.1:${streamPort}`, apiUrl,
    output: () => out,
    status: async () => (await fetch(`${apiUrl}/v1/status`, { headers: statusHeaders })).json() as ReturnType<ControlHandle['status']>,
    metric: async (name, labels = {}) => sampleValue(parseMetrics(await (await fetch(`${apiUrl}/metrics`)).text()), name, labels),
    stop: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exit;
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`control plane exited with ${proc.exitCode}:\n${out}`);
    if (await fetch(`${apiUrl}/ready`).then((r) => r.ok, () => false)) return handle;
    if (Date.now() > deadline) throw new Error(`control plane not ready after 20s:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
