// Starts and stops the processes of a local mesh: a control plane, apps and their sidecars, each on
// free loopback ports, with logs and policies in a temporary directory. Used by `petrel demo`.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const DIST = resolve(import.meta.dirname, '..');
export const PETREL_BIN = join(DIST, 'bin', 'petrel.js');
export const DEMO_APP = join(DIST, 'demo', 'app.js');

/** Ports handed out by this process: the kernel may offer a just-closed port again. */
const handedOut = new Set<number>();

/** A loopback port nothing listens on, and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    await once(server, 'close');
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

export interface SidecarPorts { inbound: number; outbound: number; admin: number }

export class LocalMesh {
  readonly dir = mkdtempSync(join(tmpdir(), 'petrel-demo-'));
  readonly policiesDir = join(this.dir, 'policies');
  readonly #children = new Map<string, ChildProcess>();

  constructor() {
    mkdirSync(this.policiesDir);
    process.once('exit', () => this.killAll());
  }

  start(name: string, args: string[]): ChildProcess {
    const log = openSync(join(this.dir, `${name}.log`), 'a');
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log] });
    this.#children.set(name, child);
    return child;
  }

  async sidecarPorts(): Promise<SidecarPorts> {
    return { inbound: await freePort(), outbound: await freePort(), admin: await freePort() };
  }

  /** Writes a file of policies into the control plane's watched directory. */
  writePolicy(dir: string, file: string, text: string): void {
    writeFileSync(join(dir, file), text);
  }

  startControl(policiesDir: string, ports: { stream: number; api: number }): ChildProcess {
    return this.start('control', [
      PETREL_BIN, 'control', '--policies', policiesDir, '--stream-port', String(ports.stream), '--api-port', String(ports.api),
    ]);
  }

  startSidecar(service: string, ports: SidecarPorts, control: string, name: string, app?: string): ChildProcess {
    return this.start(`${name}-sidecar`, [
      PETREL_BIN, 'sidecar', '--service', service, '--control', control, '--name', name,
      '--inbound-host', '127.0.0.1', '--inbound-port', String(ports.inbound), '--outbound-port', String(ports.outbound),
      '--admin-host', '127.0.0.1', '--admin-port', String(ports.admin), ...(app ? ['--app', app] : []),
      // The demo stops the whole mesh at once: nobody is left to learn of a departure.
      '--drain-delay', '0s',
    ]);
  }

  startApp(name: string, args: string[]): ChildProcess {
    return this.start(name, [DEMO_APP, ...args]);
  }

  async stop(name: string): Promise<void> {
    const child = this.#children.get(name);
    if (!child || child.exitCode !== null) return;
    child.kill('SIGTERM');
    await once(child, 'exit');
    this.#children.delete(name);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.#children.keys()].map((n) => this.stop(n)));
  }

  killAll(): void {
    for (const child of this.#children.values()) child.kill('SIGKILL');
  }
}

/** Polls a URL until it answers 200, or throws after `timeoutMs`. */
export async function waitForOk(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
}
