// `--policies DIR`: a directory of YAML files, each with one or more ResiliencePolicy documents.
// Edits, new files and deletions take effect without a restart (fs.watch, debounced). A file that
// fails to parse or validate is rejected alone: its error is reported, and the last good version of
// its policies stays in force.
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIssues, parseDocuments, SourceError } from '../../api/yaml-source.ts';
import { validatePolicyDocument } from '../../api/validate.ts';
import type { ResiliencePolicySpec } from '../../api/types.ts';
import type { SourceState, StoredPolicy } from '../policy.ts';

interface FileState {
  /** The last version of the file that validated. */
  good: StoredPolicy[];
  errors: string[];
}

const POLICY_FILE = /\.(ya?ml|json)$/;

export class PolicyDirectory extends EventEmitter {
  readonly dir: string;
  readonly #files = new Map<string, FileState>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #debounceMs: number;

  constructor(dir: string, debounceMs = 100) {
    super();
    this.dir = dir;
    this.#debounceMs = debounceMs;
  }

  /** Reads every file, then watches the directory; emits 'change' after each settled batch of edits. */
  async start(): Promise<void> {
    await this.reload();
    this.#watcher = watch(this.dir, () => this.#schedule());
    this.#watcher.on('error', (err) => this.emit('error', err));
  }

  stop(): void {
    this.#watcher?.close();
    if (this.#timer) clearTimeout(this.#timer);
  }

  state(): SourceState {
    const policies: StoredPolicy[] = [];
    const errors: { origin: string; errors: string[] }[] = [];
    for (const [file, s] of [...this.#files].sort(([a], [b]) => a.localeCompare(b))) {
      policies.push(...s.good);
      if (s.errors.length > 0) errors.push({ origin: file, errors: s.errors });
    }
    return { policies, errors };
  }

  #schedule(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.reload().then(() => this.emit('change'), (err: unknown) => this.emit('error', err));
    }, this.#debounceMs);
  }

  /** Re-reads the directory: new and changed files are validated, deleted ones forgotten. */
  async reload(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => POLICY_FILE.test(n)).sort();
    for (const known of [...this.#files.keys()]) if (!names.includes(known)) this.#files.delete(known);
    for (const name of names) {
      const file = join(this.dir, name);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch {
        continue; // removed between readdir and readFile: the next event handles it
      }
      const previous = this.#files.get(name) ?? { good: [], errors: [] };
      const result = parsePolicies(text, file);
      this.#files.set(name, 'policies' in result ? { good: result.policies, errors: [] } : { good: previous.good, errors: result.errors });
    }
  }
}

/** Parses and validates one file's documents: all of them, or the errors. */
export function parsePolicies(text: string, file: string): { policies: StoredPolicy[] } | { errors: string[] } {
  let docs;
  try {
    docs = parseDocuments(text, file);
  } catch (err) {
    return { errors: [err instanceof SourceError ? err.message : `${file}: ${(err as Error).message}`] };
  }
  const errors: string[] = [];
  const policies: StoredPolicy[] = [];
  for (const doc of docs) {
    const issues = validatePolicyDocument(doc.value);
    if (issues.length > 0) {
      errors.push(...formatIssues(doc, issues));
      continue;
    }
    const value = doc.value as { metadata: { name: string; namespace?: string }; spec: ResiliencePolicySpec };
    const namespace = value.metadata.namespace ?? 'default';
    policies.push({ key: `${namespace}/${value.metadata.name}`, namespace, name: value.metadata.name, spec: value.spec, origin: `${file} (document ${doc.index})` });
  }
  return errors.length > 0 ? { errors } : { policies };
}
