// "Pods" made of Linux network namespaces for interception tests: two namespaces joined by a veth
// pair, each with its own address, processes started inside them as a chosen uid (the sidecar as
// 1337, like the injected pod), wherever the checkout lives. Needs root. Everything is torn down in destroy(), on process exit,
// and (for leftovers of a run that was killed) when the next run starts.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { REPO } from './processes.ts';

export const NODE = process.execPath;
const PREFIX = 'petrel-t';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface Pod {
  readonly netns: string;
  readonly ip: string;
  /** The pod's end of the veth link between the two pods (for tcpdump -i). */
  readonly link: string;
  /** Starts a long-running process in the pod; killed on destroy. */
  spawn(command: string[], uid?: number): ChildProcess & { output(): string };
  /** Runs a command in the pod to completion. */
  run(command: string[], uid?: number, timeoutMs?: number): Promise<RunResult>;
}

const live = new Set<ChildProcess>();
const namespaces = new Set<string>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
  for (const ns of namespaces) removeNamespace(ns);
});

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function removeNamespace(ns: string): void {
  try {
    for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    ip('netns', 'del', ns);
  } catch { /* already gone */ }
  namespaces.delete(ns);
}

/** Namespaces left by test runs whose process no longer exists. */
function removeStale(): void {
  for (const line of ip('netns', 'list').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = new RegExp(`^${PREFIX}(\\d+)-`).exec(name);
    if (match === null) continue;
    try {
      process.kill(Number(match[1]), 0);
    } catch {
      removeNamespace(name);
    }
  }
}

/**
 * Runs as `uid` with one capability kept: CAP_DAC_READ_SEARCH, ambient so it survives the uid change
 * and the exec. A checkout may sit in a directory other users cannot enter (/root, `mktemp -d`), and
 * uid 1337 must still read dist/ and node_modules there. Reading is all it grants: the process keeps
 * uid 1337, which is what iptables' owner match keys on, so the test proves the same exemption.
 */
function asUser(uid: number): string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search', '--'];
}

function inNamespace(ns: string, command: string[], uid: number | undefined): string[] {
  return ['netns', 'exec', ns, ...(uid === undefined ? [] : asUser(uid)), ...command];
}

function makePod(netns: string, address: string, link: string): Pod {
  return {
    netns,
    ip: address,
    link,
    spawn(command, uid) {
      const child = spawn('ip', inNamespace(netns, command, uid), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
      live.add(child);
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
      child.once('exit', () => live.delete(child));
      return Object.assign(child, { output: () => out });
    },
    run(command, uid, timeoutMs = 30_000) {
      return new Promise((resolve) => {
        const child = spawn('ip', inNamespace(netns, command, uid), { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
        live.add(child);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
        child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
        child.once('exit', (code) => {
          live.delete(child);
          resolve({ code, stdout, stderr });
        });
      });
    },
  };
}

export interface PodPair {
  a: Pod;
  b: Pod;
  destroy(): void;
}

/** Two pods, 10.231.0.1 (a) and 10.231.0.2 (b), on one veth link. */
export function createPodPair(): PodPair {
  removeStale();
  const base = `${PREFIX}${process.pid}`;
  const [nsA, nsB] = [`${base}-a`, `${base}-b`];
  const [vethA, vethB] = [`pa${process.pid}`.slice(0, 15), `pb${process.pid}`.slice(0, 15)];
  try {
    for (const ns of [nsA, nsB]) {
      ip('netns', 'add', ns);
      namespaces.add(ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', vethA, 'netns', nsA, 'type', 'veth', 'peer', 'name', vethB, 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', '10.231.0.1/24', 'dev', vethA);
    ip('-n', nsB, 'addr', 'add', '10.231.0.2/24', 'dev', vethB);
    ip('-n', nsA, 'link', 'set', vethA, 'up');
    ip('-n', nsB, 'link', 'set', vethB, 'up');
  } catch (err) {
    removeNamespace(nsA);
    removeNamespace(nsB);
    throw err;
  }
  return {
    a: makePod(nsA, '10.231.0.1', vethA),
    b: makePod(nsB, '10.231.0.2', vethB),
    destroy() {
      for (const child of live) child.kill('SIGKILL');
      removeNamespace(nsA);
      removeNamespace(nsB);
    },
  };
}
