// Control-plane scale (`make bench`): one control plane, 1,000 simulated sidecar subscriptions
// (100 services x 10 endpoints, each subscriber registering its own address), then a policy edit.
// Measures how long the edit takes to reach every subscriber (file write -> snapshot line received,
// and -> ACK recorded by the control plane), and the control plane's memory. Bounded: 1,000
// connections, one edit, 60 s at most.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, waitForOk } from '../demo/local-mesh.ts';
import { statusKb } from './processes.ts';

const SIDECARS = Number(process.env.SCALE_SIDECARS ?? 1000);
const SERVICES = 100;
const PETREL = join(resolve(import.meta.dirname, '..'), 'bin', 'petrel.js');

function policy(attempts: number): string {
  return `apiVersion: petrel.dev/v1alpha1\nkind: ResiliencePolicy\nmetadata: { name: default-policy, namespace: default }\nspec:\n  retry: { attempts: ${attempts} }\n`;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export async function controlScale(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'petrel-scale-'));
  writeFileSync(join(dir, 'default.yaml'), policy(2));
  const [stream, api] = [await freePort(), await freePort()];
  const control = spawn(process.execPath, [PETREL, 'control', '--policies', dir, '--stream-port', String(stream), '--api-port', String(api),
    '--startup-grace', '0s', '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const streams: { destroy(): void }[] = [];
  try {
    await waitForOk(`http://127.0.0.1:${api}/ready`);
    const editAt = { t: 0, version: '' };
    const received: number[] = [];
    let connected = 0;
    await new Promise<void>((resolveAll, reject) => {
      const deadline = setTimeout(() => reject(new Error(`only ${connected} of ${SIDECARS} subscriptions got a snapshot within 60 s`)), 60_000);
      for (let i = 0; i < SIDECARS; i++) {
        const url = `http://127.0.0.1:${stream}/v1/subscribe?service=svc-${i % SERVICES}&namespace=default&address=10.0.${Math.floor(i / 250)}.${i % 250}:15006&name=pod-${i}`;
        const req = request(url, { agent: false }, (res) => {
          streams.push(res);
          let id = '';
          let first = true;
          let buffered = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffered += chunk;
            for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              const head = line.slice(0, 200);
              if (head.startsWith('{"type":"hello"')) id = (JSON.parse(line) as { id: string }).id;
              const version = /"version":(\d+)/.exec(head)?.[1];
              if (!head.startsWith('{"type":"snapshot"') || version === undefined) continue;
              const body = JSON.stringify({ id, version: Number(version), status: 'ACK' });
              request(`http://127.0.0.1:${stream}/v1/ack`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (r) => r.resume())
                .on('error', () => { /* the control plane is being stopped */ }).end(body);
              if (first) {
                first = false;
                if (++connected === SIDECARS) { clearTimeout(deadline); resolveAll(); }
              } else if (line.includes('"attempts":3')) received.push(performance.now() - editAt.t);
            }
          });
        });
        req.on('error', reject);
        req.end();
      }
    });
    await new Promise((r) => setTimeout(r, 1000)); // let the registrations' pushes settle
    const before = statusKb(control.pid as number, 'VmRSS');
    editAt.t = performance.now();
    writeFileSync(join(dir, 'default.yaml'), policy(3));
    const deadline = Date.now() + 30_000;
    while (received.length < SIDECARS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const sorted = [...received].sort((a, b) => a - b);
    const metrics = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    const pushed = /^petrel_control_pushes_total (\d+)/m.exec(metrics)?.[1];
    return [
      `Control plane with ${SIDECARS} subscriptions (${SERVICES} services x ${SIDECARS / SERVICES} endpoints; each snapshot lists all of them):`,
      `- a policy edit reached ${received.length} of ${SIDECARS} subscribers; file write -> snapshot received: p50 ${percentile(sorted, 50).toFixed(0)} ms, p90 ${percentile(sorted, 90).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(0)} ms (includes the 100 ms debounce)`,
      `- control plane RSS ${(before / 1024).toFixed(0)} MB with ${SIDECARS} streams; peak ${(statusKb(control.pid as number, 'VmHWM') / 1024).toFixed(0)} MB; pushes so far ${pushed}`,
    ];
  } finally {
    for (const s of streams) s.destroy();
    agent.destroy();
    control.kill('SIGKILL');
  }
}

if (process.argv[1] === import.meta.filename) {
  for (const line of await controlScale()) process.stdout.write(`${line}\n`);
  process.exit(0);
}
