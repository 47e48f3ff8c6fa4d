// A policy resource as the control plane keeps it: where it came from, whom it protects, its spec.
// ResiliencePolicies, AccessPolicies, HTTPRoutes and GRPCRoutes come from the same sources and share their bounds.
import type { AccessPolicySpec, GrpcRouteSpec, HttpRouteSpec, ResiliencePolicySpec } from '../api/types.ts';

interface StoredBase {
  /** "namespace/name" (unique per kind) */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  /** Where it came from: "file.yaml (document 2)" or "kubernetes". */
  readonly origin: string;
}

export interface StoredResiliencePolicy extends StoredBase {
  readonly kind: 'ResiliencePolicy';
  readonly spec: ResiliencePolicySpec;
}

export interface StoredAccessPolicy extends StoredBase {
  readonly kind: 'AccessPolicy';
  readonly spec: AccessPolicySpec;
}

/** A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) attached to Services (GAMMA). */
export interface StoredHttpRoute extends StoredBase {
  readonly kind: 'HTTPRoute';
  readonly spec: HttpRouteSpec;
  /** metadata.creationTimestamp when the document gives it: the oldest route wins precedence ties. */
  readonly creationTimestamp?: string;
}

/** A Gateway API GRPCRoute (gateway.networking.k8s.io/v1, GEP-1016) attached to Services (GAMMA). */
export interface StoredGrpcRoute extends StoredBase {
  readonly kind: 'GRPCRoute';
  readonly spec: GrpcRouteSpec;
  /** metadata.creationTimestamp when the document gives it: the oldest route wins precedence ties. */
  readonly creationTimestamp?: string;
}

export type StoredPolicy = StoredResiliencePolicy | StoredAccessPolicy | StoredHttpRoute | StoredGrpcRoute;

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
