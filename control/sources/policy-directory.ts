// `--policies DIR`: a directory of YAML files, each with one or more ResiliencePolicy, AccessPolicy,
// HTTPRoute or GRPCRoute (gateway.networking.k8s.io/v1) documents.
// Edits, new files and deletions take effect without a restart (fs.watch, debounced). A file that
// fails to parse, validate or stay within the limits (policy-limits.ts) is rejected alone: its error
// is reported, and the last good version of its policies stays in force. Entries that cannot be
// policy files (a directory named *.yaml, a symlink loop) are reported too, never skipped silently.
// fs.watch follows the directory's inode, so a directory deleted and created again would go unwatched:
// the directory is checked every `rewatchMs` and watched again when it is back or was replaced.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicySource, SourceState, StoredPolicy } from '../policy.ts';
import { readPolicyFile } from './policy-file.ts';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from './policy-limits.ts';

interface FileState {
  /** The last version of the file that validated. */
  good: StoredPolicy[];
  errors: string[];
}

export interface PolicyDirectoryOptions {
  /** Edits within this window are read together. Default 100 ms. */
  debounceMs?: number;
  limits?: PolicyLimits;
  /** How often to check that the watched directory is still the one at `dir`. Default 1 s. */
  rewatchMs?: number;
}

const POLICY_FILE = /\.(ya?ml|json)$/;

export class PolicyDirectory extends EventEmitter implements PolicySource {
  readonly dir: string;
  readonly #files = new Map<string, FileState>();
  readonly #debounceMs: number;
  readonly #rewatchMs: number;
  readonly #limits: PolicyLimits;
  /** Why the directory itself cannot be read, when it cannot. */
  #dirError: string | undefined;
  #watcher: FSWatcher | undefined;
  /** dev:ino:birth time of the directory the watcher follows (an inode number may be reused). */
  #watched: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> = Promise.resolve();
  #stopped = false;
  #checking = false;

  constructor(dir: string, options: PolicyDirectoryOptions = {}) {
    super();
    this.dir = dir;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#rewatchMs = options.rewatchMs ?? 1000;
    this.#limits = options.limits ?? DEFAULT_POLICY_LIMITS;
  }

  /** Reads every file, then watches the directory; emits 'change' after each settled batch of edits. */
  async start(): Promise<void> {
    await this.reload();
    await this.#checkDirectory();
    this.#checkTimer = setInterval(() => void this.#checkDirectory(), this.#rewatchMs);
    this.#checkTimer.unref();
  }

  stop(): void {
    this.#stopped = true;
    this.#unwatch();
    clearInterval(this.#checkTimer);
    if (this.#timer) clearTimeout(this.#timer);
  }

  state(): SourceState {
    const policies: StoredPolicy[] = [];
    const errors: { origin: string; errors: string[] }[] = [];
    if (this.#dirError !== undefined) errors.push({ origin: this.dir, errors: [this.#dirError] });
    for (const [file, s] of [...this.#files].sort(([a], [b]) => a.localeCompare(b))) {
      policies.push(...s.good);
      if (s.errors.length > 0) errors.push({ origin: file, errors: s.errors });
    }
    return { policies, errors };
  }

  /** Watches the directory now at `dir` unless it is the one watched already; reloads when it changed. */
  async #checkDirectory(): Promise<void> {
    if (this.#stopped || this.#checking) return;
    this.#checking = true;
    try {
      await this.#rewatch();
    } finally {
      this.#checking = false;
    }
  }

  async #rewatch(): Promise<void> {
    const identity = await stat(this.dir).then((s) => (s.isDirectory() ? `${s.dev}:${s.ino}:${s.birthtimeMs}` : undefined), () => undefined);
    if (identity === this.#watched && (identity === undefined || this.#watcher !== undefined)) return;
    this.#unwatch();
    if (identity !== undefined) {
      try {
        const watcher = watch(this.dir, () => {
          this.#schedule();
          void this.#checkDirectory(); // an event may be the directory's own deletion
        });
        // Deleted under it, or the watch failed: drop it; the next check watches again.
        watcher.on('error', () => { if (this.#watcher === watcher) this.#unwatch(); });
        this.#watcher = watcher;
      } catch {
        return; // gone again between stat and watch: the next check tries again
      }
    }
    const first = this.#watched === undefined && identity !== undefined && this.#dirError === undefined;
    this.#watched = identity;
    // Back, replaced, or gone: read it again (the first watch follows the reload in start()).
    if (!first) this.#schedule();
  }

  #unwatch(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
    this.#watched = undefined;
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.reload().then(() => this.emit('change'), (err: unknown) => this.emit('error', err));
    }, this.#debounceMs);
  }

  /** Re-reads the directory: new and changed files are validated, deleted ones forgotten. One at a time. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(() => this.#reload());
    return this.#reloading;
  }

  async #reload(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => POLICY_FILE.test(n)).sort();
    } catch (err) {
      // Gone (or never there): keep what it held, say so, and watch for it to come back.
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be read (${(err as Error).message})`;
      this.#dirError = `${this.dir}: the policy directory ${why}; the policies read from it before stay in force until it is back`;
      return;
    }
    this.#dirError = undefined;
    for (const known of [...this.#files.keys()]) if (!names.includes(known)) this.#files.delete(known);
    let total = 0;
    for (const name of names) {
      const file = join(this.dir, name);
      const previous = this.#files.get(name) ?? { good: [], errors: [] };
      const result = await readPolicyFile(file, this.#limits);
      if ('gone' in result) {
        this.#files.delete(name);
        continue;
      }
      let next: FileState = 'policies' in result ? { good: result.policies, errors: [] } : { good: previous.good, errors: result.errors };
      if (total + next.good.length > this.#limits.maxPolicies && 'policies' in result) {
        next = { good: previous.good, errors: [`${file}: its ${result.policies.length} policies would bring the directory to ${total + result.policies.length}; the limit is ${this.#limits.maxPolicies} policies`] };
      }
      total += next.good.length;
      this.#files.set(name, next);
    }
  }
}
