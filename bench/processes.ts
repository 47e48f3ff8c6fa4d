// Process helpers for the benchmark: start pinned processes, read their CPU time and peak RSS
// from /proc, run the load generators (wrk, h2load, bench/grpc-load) and parse what they print.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GrpcLoadResult } from './grpc-load.ts';

const execFileAsync = promisify(execFile);

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

import { freePort } from '../demo/local-mesh.ts';

export { freePort };

const started: ChildProcess[] = [];
process.on('exit', () => started.forEach((c) => c.kill('SIGKILL')));

/** Starts `command` pinned to `cpus` (taskset) with output discarded. */
export function startPinned(cpus: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn('taskset', ['-c', cpus, command, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env });
  started.push(child);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** The pid and its children's pids (nginx runs a master and a worker). */
export function processTree(pid: number): number[] {
  const out = [pid];
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    for (const c of children.split(/\s+/).filter(Boolean)) out.push(...processTree(Number(c)));
  } catch { /* gone */ }
  return out;
}

/** CPU seconds (user + system) used so far by these processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / CLOCK_TICKS;
}

/** A field of /proc/PID/status, in kB. */
export function statusKb(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0);
}

/** Largest peak RSS (VmHWM) among the processes, in MB. */
export function peakRssMb(pids: number[]): number {
  return Math.max(...pids.map((p) => statusKb(p, 'VmHWM'))) / 1024;
}

/** Current private (anonymous) RSS, largest among the processes, in MB. */
export function anonRssMb(pids: number[]): number {
  return Math.max(...pids.map((p) => statusKb(p, 'RssAnon'))) / 1024;
}

export async function waitForHttp(url: string, headers: Record<string, string> = {}, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fetch(url, { headers }).then((r) => r.status < 500, () => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** A plain nginx answering 200 "ok" on 127.0.0.1 (its files under `work`), pinned to `cpus`: an upstream for by-hand benchmarks. */
export async function startOkNginx(work: string, cpus: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const dir = join(work, `nginx-${port}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;\ndaemon off;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log warn;\n` +
    `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n  keepalive_timeout 60s;\n` +
    `  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }\n}\n`);
  const proc = startPinned(cpus, '/usr/sbin/nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')]);
  await waitForHttp(`http://127.0.0.1:${port}/`);
  return { port, proc };
}

/** Accepting TCP connections: for listeners that speak only HTTP/2 (nginx `listen ... http2`, grpc-js). */
export async function waitForTcp(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`127.0.0.1:${port} did not accept within ${timeoutMs} ms`);
}

/** What one load run measured, whichever tool ran it: requests (or calls), their rate, latency, failures. */
export interface WrkResult { requests: number; seconds: number; rps: number; p50ms: number; p99ms: number; errors: number }
export type LoadResult = WrkResult;

function toMs(value: string): number {
  const m = /^([0-9.]+)(us|ms|s)$/.exec(value.trim());
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** Runs wrk pinned to `cpus`; bounded by its own duration. */
export function wrk(cpus: string, url: string, connections: number, seconds: number, headers: string[] = []): WrkResult {
  const args = ['-c', cpus, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  return parseWrk(execFileSync('taskset', args, { timeout: (seconds + 30) * 1000 }).toString(), seconds);
}

/** wrk without blocking the event loop, for work that must run during the load. */
export async function wrkAsync(cpus: string, url: string, connections: number, seconds: number, headers: string[] = []): Promise<WrkResult> {
  const args = ['-c', cpus, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  const { stdout } = await execFileAsync('taskset', args, { timeout: (seconds + 30) * 1000 });
  return parseWrk(stdout, seconds);
}

function parseWrk(text: string, seconds: number): WrkResult {
  const requests = Number(/([0-9]+) requests in ([0-9.]+)(m?s)/.exec(text)?.[1] ?? 0);
  const secondsMatch = /requests in ([0-9.]+)(ms|s|m)/.exec(text);
  const took = secondsMatch ? Number(secondsMatch[1]) * (secondsMatch[2] === 'ms' ? 0.001 : secondsMatch[2] === 'm' ? 60 : 1) : seconds;
  const errorsMatch = /Non-2xx or 3xx responses: ([0-9]+)/.exec(text);
  const socketErrors = /Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/.exec(text);
  const errors = Number(errorsMatch?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
  return {
    requests, seconds: took, rps: Number(/Requests\/sec:\s+([0-9.]+)/.exec(text)?.[1] ?? 0),
    p50ms: toMs(/\s50%\s+(\S+)/.exec(text)?.[1] ?? ''), p99ms: toMs(/\s99%\s+(\S+)/.exec(text)?.[1] ?? ''), errors,
  };
}

/**
 * Runs h2load pinned to `cpus`: plain HTTP/2 (h2c, prior knowledge) GETs, `concurrency` streams spread
 * over up to 4 connections, for `seconds`. Failures: h2load's "failed" (streams reset or errored,
 * timed out, or answered 4xx/5xx) plus 3xx answers. In timing mode h2load stops with requests in flight,
 * which it counts as started but not done, and so neither do we. A run that completed no request at all
 * (say the listener did not speak HTTP/2) throws. h2load reports no percentiles: latency is NaN.
 */
export async function h2load(cpus: string, url: string, concurrency: number, seconds: number, authority?: string): Promise<LoadResult> {
  const clients = Math.min(4, concurrency);
  const streams = Math.max(1, Math.round(concurrency / clients));
  const args = ['-c', cpus, 'h2load', '-t1', `-c${clients}`, `-m${streams}`, `-D${seconds}`,
    ...(authority ? ['-H', `:authority: ${authority}`] : []), url];
  const { stdout, stderr } = await execFileAsync('taskset', args, { timeout: (seconds + 30) * 1000, maxBuffer: 1 << 20 });
  const done = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx/.exec(stdout);
  const finished = /finished in ([0-9.]+)(ms|s), ([0-9.]+) req\/s/.exec(stdout);
  if (!done || !codes || !finished || done[1] === '0') {
    throw new Error(`h2load completed no request: ${`${stdout}\n${stderr}`.split('\n').filter((l) => /error|fail|requests:/i.test(l)).join('; ').slice(0, 300)}`);
  }
  return {
    requests: Number(done[4]), seconds: Number(finished[1]) * (finished[2] === 'ms' ? 0.001 : 1), rps: Number(finished[3]),
    p50ms: Number.NaN, p99ms: Number.NaN, errors: Number(done[5]) + Number(codes[2]),
  };
}

const GRPC_LOAD = join(import.meta.dirname, 'grpc-load.js');

/** Runs bench/grpc-load pinned to `cpus` (a separate process, like wrk); bounded by its own duration plus a grace period. */
export async function grpcLoad(cpus: string, target: string, concurrency: number, seconds: number, authority?: string, channels = 1): Promise<LoadResult & { grpc: GrpcLoadResult }> {
  const args = ['-c', cpus, process.execPath, GRPC_LOAD, '--target', target, '--concurrency', String(concurrency),
    '--channels', String(channels), '--seconds', String(seconds), ...(authority ? ['--authority', authority] : [])];
  const { stdout } = await execFileAsync('taskset', args, { timeout: (seconds + 30) * 1000 }).catch((err: { stderr?: string; message: string }) => {
    const why = err.stderr?.split('\n').find((l) => l.startsWith('Error')) ?? err.message.split('\n')[0];
    throw new Error(`grpc-load: ${why}`);
  });
  const grpc = JSON.parse(stdout.trim().split('\n').pop() as string) as GrpcLoadResult;
  return { requests: grpc.calls, seconds: grpc.seconds, rps: grpc.cps, p50ms: grpc.p50ms ?? Number.NaN, p99ms: grpc.p99ms ?? Number.NaN, errors: grpc.failures, grpc };
}
