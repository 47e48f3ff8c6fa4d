// Holds the snapshot in force and swaps it atomically. A snapshot that fails validation or
// compilation is rejected whole, and the previous one stays in force.
import { EventEmitter } from 'node:events';
import type { Snapshot } from '../../api/types.ts';
import { validateSnapshot, type ValidationIssue } from '../../api/validate.ts';
import { compileSnapshot, type CompileContext } from './compile.ts';
import type { CompiledSnapshot } from './compiled.ts';

/** Where a snapshot came from: the kind is a metric label, the name goes into messages. */
export interface ConfigSource {
  kind: 'file' | 'control';
  name: string;
}

export class ConfigRejectedError extends Error {
  readonly code = 'PETREL_CONFIG_REJECTED';
  readonly issues: readonly string[];
  constructor(source: string, issues: readonly string[]) {
    super(`config from ${source} rejected; the previous config stays in force:\n  ${issues.join('\n  ')}`);
    this.issues = issues;
  }
}

export class ConfigStore extends EventEmitter {
  #current: CompiledSnapshot | undefined;
  readonly #context: CompileContext;

  constructor(context: CompileContext) {
    super();
    this.#context = context;
  }

  /** The snapshot in force, or undefined before the first one arrived. */
  get current(): CompiledSnapshot | undefined {
    return this.#current;
  }

  /**
   * Validates, compiles and swaps in a snapshot. `describe` turns schema issues into
   * located messages (file and line) when the snapshot came from a file.
   */
  apply(doc: unknown, source: ConfigSource, describe: (issues: ValidationIssue[]) => string[] = plain): CompiledSnapshot {
    const issues = validateSnapshot(doc);
    const snapshot = doc as Snapshot;
    if (issues.length === 0 && snapshot.node !== undefined && snapshot.node.service !== this.#context.self.service) {
      issues.push({ path: 'node.service', segments: ['node', 'service'], message: `is "${snapshot.node.service}" but this sidecar serves "${this.#context.self.service}"` });
    }
    if (issues.length > 0) return this.reject(source, describe(issues));
    let compiled: CompiledSnapshot;
    try {
      compiled = compileSnapshot(snapshot, this.#context);
    } catch (err) {
      return this.reject(source, [err instanceof Error ? err.message : String(err)]);
    }
    const previous = this.#current;
    this.#current = compiled;
    this.#context.pools.retain(compiled.poolKeys);
    this.#context.endpointStates.retain(compiled.endpointKeys);
    this.#context.policyStates.retain(compiled.policyKeys);
    this.#context.metrics.configVersion.set(compiled.version);
    this.emit('applied', compiled, previous);
    return compiled;
  }

  /**
   * Compiles the snapshot in force again: after a certificate renewal, so that endpoints get pools
   * with the new credentials (the old pools finish their requests and close). Undefined before the
   * first snapshot.
   */
  recompile(reason: string): CompiledSnapshot | undefined {
    const current = this.#current;
    if (current === undefined) return undefined;
    return this.apply(current.source, { kind: 'control', name: reason });
  }

  /** Counts and throws a rejection for a snapshot that could not even be read. */
  reject(source: ConfigSource, lines: string[]): never {
    this.#context.metrics.configRejected.inc({ source: source.kind });
    throw new ConfigRejectedError(source.name, lines);
  }
}

function plain(issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${i.path || '(root)'}: ${i.message}`);
}
