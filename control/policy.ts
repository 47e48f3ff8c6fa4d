// A ResiliencePolicy as the control plane keeps it: where it came from, whom it protects, its spec.
import type { ResiliencePolicySpec } from '../api/types.ts';

export interface StoredPolicy {
  /** "namespace/name" */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly spec: ResiliencePolicySpec;
  /** Where it came from: "file.yaml (document 2)" or "kubernetes". */
  readonly origin: string;
}

/** What a policy source reports: its policies, and the inputs it had to reject. */
export interface SourceState {
  policies: readonly StoredPolicy[];
  /** One entry per rejected input (a file, a resource), with every error line. */
  errors: readonly { origin: string; errors: readonly string[] }[];
}

/** Where policies come from: a watched directory, the Kubernetes API. Emits 'change' and 'error'. */
export interface PolicySource {
  start(): Promise<void>;
  stop(): void;
  state(): SourceState;
  on(event: 'change', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
