// Runtime configuration: what a snapshot compiles into. Immutable once built; a new snapshot builds
// a new CompiledSnapshot and the store swaps the reference, so a request that started on the old
// one finishes on it.
import type { Snapshot } from '../../api/types.ts';
import type { Balancer } from '../balancer/balancer.ts';
import type { StreamMetrics } from '../telemetry/metrics.ts';
import type { Endpoint } from '../upstream/endpoint.ts';

/** Policy of one destination service, parsed into numbers once. */
export interface ServicePolicy {
  readonly connectTimeoutMs: number;
  /** Per attempt, until the response headers; undefined for none. */
  readonly perTryTimeoutMs: number | undefined;
  /** For the whole request until the response headers, all attempts included; undefined for none. */
  readonly totalTimeoutMs: number | undefined;
}

export interface ServiceTarget {
  /** "name.namespace" */
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  readonly endpoints: readonly Endpoint[];
  readonly balancer: Balancer;
  readonly policy: ServicePolicy;
  readonly metrics: StreamMetrics;
}

/** The local app behind the inbound listener. */
export interface InboundTarget {
  readonly policy: ServicePolicy;
  /** undefined when the sidecar runs without --app. */
  readonly app: Endpoint | undefined;
}

export interface CompiledSnapshot {
  readonly version: number;
  readonly source: Snapshot;
  /** Lower-case host (no port) -> service. */
  readonly hosts: ReadonlyMap<string, ServiceTarget>;
  readonly services: readonly ServiceTarget[];
  readonly passthrough: boolean;
  readonly inbound: InboundTarget;
  /** Pool keys this snapshot uses; the registry closes the others after a swap. */
  readonly poolKeys: ReadonlySet<string>;
}
