// `petrel iptables`: applies (or removes) the interception rules with iptables-restore, choosing
// between iptables-nft and iptables-legacy the way kube-proxy does: the backend that already holds
// rules in this network namespace wins, nft when neither does. Applying is idempotent: our chains
// are flushed and rewritten and the jumps into them are never duplicated.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CHAINS, interceptionRules, JUMPS, type InterceptionOptions } from './iptables-rules.ts';

const run = promisify(execFile);

export type IptablesBackend = 'nft' | 'legacy';

export interface IptablesRunOptions {
  /** nft, legacy, or undefined to detect. */
  backend: IptablesBackend | undefined;
  log: (line: string) => void;
}

export class IptablesError extends Error {
  readonly code = 'PETREL_IPTABLES';
}

async function tool(command: string, args: string[], input?: string): Promise<string> {
  try {
    if (input === undefined) return (await run(command, args)).stdout;
    return await new Promise((resolve, reject) => {
      const child = execFile(command, args, (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve(stdout)));
      child.stdin?.end(input);
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new IptablesError(`${command} not found: install the iptables package (Debian: apt-get install iptables)`);
    throw new IptablesError(`${command} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

async function ruleCount(backend: IptablesBackend): Promise<number | undefined> {
  try {
    const saved = await tool(`iptables-${backend}-save`, []);
    return saved.split('\n').filter((line) => line.startsWith('-')).length;
  } catch {
    return undefined;
  }
}

export async function detectBackend(): Promise<IptablesBackend> {
  const [nft, legacy] = await Promise.all([ruleCount('nft'), ruleCount('legacy')]);
  if (nft === undefined && legacy === undefined) {
    throw new IptablesError('neither iptables-nft-save nor iptables-legacy-save works here: install the iptables package, and run with NET_ADMIN');
  }
  if (nft === undefined) return 'legacy';
  if (legacy === undefined) return 'nft';
  return legacy > nft ? 'legacy' : 'nft';
}

export async function applyInterception(options: InterceptionOptions, run: IptablesRunOptions): Promise<IptablesBackend> {
  const backend = run.backend ?? (await detectBackend());
  await removeJumps(backend);
  await tool(`iptables-${backend}-restore`, ['--noflush'], interceptionRules(options));
  run.log(`petrel iptables: interception rules applied with iptables-${backend} (inbound -> ${options.inboundPort}, outbound -> ${options.outboundPort}, uid ${options.proxyUid} excluded)`);
  return backend;
}

export async function removeInterception(run: IptablesRunOptions): Promise<IptablesBackend> {
  const backend = run.backend ?? (await detectBackend());
  await removeJumps(backend);
  const present: string[] = [];
  for (const chain of Object.values(CHAINS)) if (await chainExists(backend, chain)) present.push(chain);
  // Flush all before deleting any: our chains jump to each other, and a referenced chain cannot go.
  for (const chain of present) await tool(`iptables-${backend}`, ['-t', 'nat', '-F', chain]);
  for (const chain of present) await tool(`iptables-${backend}`, ['-t', 'nat', '-X', chain]);
  run.log(`petrel iptables: interception rules removed (iptables-${backend})`);
  return backend;
}

async function chainExists(backend: IptablesBackend, chain: string): Promise<boolean> {
  try {
    await run(`iptables-${backend}`, ['-t', 'nat', '-n', '-L', chain]);
    return true;
  } catch {
    return false;
  }
}

/** Deletes every copy of our jumps from PREROUTING and OUTPUT (a rule can only be deleted once per call). */
async function removeJumps(backend: IptablesBackend): Promise<void> {
  for (const [chain, ...rule] of JUMPS) {
    for (let i = 0; i < 100; i++) {
      try {
        await run(`iptables-${backend}`, ['-t', 'nat', '-C', chain!, ...rule]);
      } catch {
        break;
      }
      await tool(`iptables-${backend}`, ['-t', 'nat', '-D', chain!, ...rule]);
    }
  }
}
