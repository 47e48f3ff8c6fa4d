// Process settings for the sidecar. Node's defaults size the young generation for throughput on big
// servers (16 MB semi-spaces) and glibc gives each thread its own malloc arena; a sidecar under load
// then holds 160+ MB of private memory, mostly garbage and arena slack. These settings keep it near
// 55 MB at the same throughput (BENCHMARKS.md has the measurements).
//   PETREL_SIDECAR_NODE_FLAGS replaces the V8 flags ("" keeps Node's defaults).
//   MALLOC_ARENA_MAX / MALLOC_TRIM_THRESHOLD_ already in the environment win over ours.
export const DEFAULT_SIDECAR_NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=128'];
export const DEFAULT_SIDECAR_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' };

/** A flag that marks a process as already tuned, so the re-exec happens once. */
const MARK = '--petrel-tuned';

export function sidecarNodeFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env.PETREL_SIDECAR_NODE_FLAGS;
  if (custom === undefined) return DEFAULT_SIDECAR_NODE_FLAGS;
  return custom.split(/\s+/).filter((f) => f !== '');
}

/**
 * Replaces this process (same pid, same signals: process.execve) with one started with the sidecar's
 * V8 flags and malloc settings, unless it already runs with them. Returns when no re-exec is needed.
 */
export function reexecWithSidecarFlags(): void {
  if (process.argv.includes(MARK)) {
    process.argv.splice(process.argv.indexOf(MARK), 1);
    return;
  }
  if (typeof process.execve !== 'function') return;
  const flags = sidecarNodeFlags().filter((f) => !process.execArgv.includes(f));
  const env = { ...DEFAULT_SIDECAR_MALLOC_ENV, ...process.env };
  const mallocSet = Object.keys(DEFAULT_SIDECAR_MALLOC_ENV).every((k) => process.env[k] !== undefined);
  if (flags.length === 0 && mallocSet) return;
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...flags, ...process.argv.slice(1), MARK], env);
}
