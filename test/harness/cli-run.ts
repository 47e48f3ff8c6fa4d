// Runs the built CLI for a test that expects it to exit, and kills it when it does not: a
// regression that lets a bad flag through starts a server that would otherwise never end.
import { spawn } from 'node:child_process';
import { PETREL, REPO } from './processes.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRunOptions {
  env?: Record<string, string>;
  /** A command the CLI runs under, such as setpriv with its flags. */
  prefix?: string[];
  timeoutMs?: number;
}

/** The exit code is null when the CLI had to be killed; 127 when the prefix command is missing. */
export function runCli(args: string[], options: CliRunOptions = {}): Promise<CliResult> {
  const [command, ...rest] = [...(options.prefix ?? []), process.execPath, PETREL, ...args];
  const proc = spawn(command as string, rest, {
    cwd: REPO, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => {
    proc.once('error', () => resolve({ code: 127, stdout, stderr }));
    proc.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
