// V8 settings for the sidecar process. Node's defaults size the young generation for throughput
// on big servers (16 MB semi-spaces) and let the old generation grow lazily; a sidecar under
// load then sits at 200+ MB of mostly garbage. These flags trade a little CPU for memory; the
// bench (make bench) measures both. PETREL_SIDECAR_NODE_FLAGS replaces them ("" for Node's defaults).
export const DEFAULT_SIDECAR_NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=128'];

/** A flag that marks a process as already tuned, so the re-exec happens once. */
const MARK = '--petrel-tuned';

export function sidecarNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env.PETREL_SIDECAR_NODE_FLAGS;
  if (custom === undefined) return DEFAULT_SIDECAR_NODE_FLAGS;
  return custom.split(/\s+/).filter((f) => f !== '');
}

/**
 * Replaces this process (same pid, same signals: process.execve) with one started with the sidecar's
 * V8 flags, unless it already runs with them. Returns only when no re-exec is needed.
 */
export function reexecWithSidecarFlags(): void {
  if (process.argv.includes(MARK)) {
    process.argv.splice(process.argv.indexOf(MARK), 1);
    return;
  }
  const flags = sidecarNodeFlags();
  if (flags.length === 0 || flags.every((f) => process.execArgv.includes(f))) return;
  if (typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1), MARK], process.env);
}
