// Compiles a validated snapshot into runtime objects: durations parsed, pools looked up, balancers
// and metric children built. Runs once per snapshot, never per request.
import { parseDuration } from '../../api/duration.ts';
import type { PolicySpec, Snapshot } from '../../api/types.ts';
import { RoundRobinBalancer } from '../balancer/round-robin.ts';
import type { SidecarMetrics } from '../telemetry/metrics.ts';
import { Endpoint } from '../upstream/endpoint.ts';
import { PoolRegistry } from '../upstream/pool-registry.ts';
import type { CompiledSnapshot, ServicePolicy, ServiceTarget } from './compiled.ts';

/** Built-in defaults (DESIGN.md): connect timeout 1s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000;

export interface SelfIdentity {
  service: string;
  namespace: string;
}

export interface CompileContext {
  self: SelfIdentity;
  /** The local app, host:port, behind the inbound listener. */
  app: string | undefined;
  pools: PoolRegistry;
  metrics: SidecarMetrics;
}

const optionalDuration = (text: string | undefined): number | undefined => (text === undefined ? undefined : parseDuration(text));

export function compilePolicy(spec: PolicySpec | undefined): ServicePolicy {
  const t = spec?.timeout;
  return {
    connectTimeoutMs: optionalDuration(t?.connect) ?? DEFAULT_CONNECT_TIMEOUT_MS,
    perTryTimeoutMs: optionalDuration(t?.perTry),
    totalTimeoutMs: optionalDuration(t?.total),
  };
}

/** The authorities a service answers to, as seen from a sidecar in `selfNamespace`. */
export function serviceHosts(name: string, namespace: string, extra: readonly string[], selfNamespace: string): string[] {
  const hosts = [`${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`];
  if (namespace === selfNamespace) hosts.unshift(name);
  for (const h of extra) hosts.push(h.toLowerCase());
  return hosts;
}

export function compileSnapshot(snapshot: Snapshot, { self, app, pools, metrics }: CompileContext): CompiledSnapshot {
  const poolKeys = new Set<string>();
  const endpoint = (address: string, name: string | undefined, connectTimeoutMs: number): Endpoint => {
    const origin = `http://${address}`;
    const key = PoolRegistry.key(origin, connectTimeoutMs);
    poolKeys.add(key);
    return new Endpoint(address, name, pools.pool(origin, connectTimeoutMs), key);
  };
  const hosts = new Map<string, ServiceTarget>();
  const services: ServiceTarget[] = [];
  for (const spec of snapshot.services) {
    const policy = compilePolicy(spec.policy);
    const endpoints = spec.endpoints.map((e) => endpoint(e.address, e.name, policy.connectTimeoutMs));
    const target: ServiceTarget = {
      id: `${spec.name}.${spec.namespace}`,
      name: spec.name,
      namespace: spec.namespace,
      endpoints,
      balancer: new RoundRobinBalancer(endpoints),
      policy,
      metrics: metrics.stream('outbound', self.service, spec.name, 'default'),
    };
    services.push(target);
    for (const host of serviceHosts(spec.name, spec.namespace, spec.hosts ?? [], self.namespace)) {
      if (!hosts.has(host)) hosts.set(host, target);
    }
  }
  const inboundPolicy = compilePolicy(snapshot.inbound?.policy);
  return {
    version: snapshot.version,
    source: snapshot,
    hosts,
    services,
    passthrough: snapshot.outbound?.passthrough ?? true,
    inbound: { policy: inboundPolicy, app: app === undefined ? undefined : endpoint(app, 'app', inboundPolicy.connectTimeoutMs) },
    poolKeys,
  };
}
