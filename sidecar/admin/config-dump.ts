// GET /config_dump (loopback only): the snapshot in force as the sidecar compiled it, with the live
// state of each endpoint (load, latency, breaker, the identity its mTLS must present), the upstream
// pools and this sidecar's own identity, and every policy value with where it came from.
import type { CompiledSnapshot } from '../config/compiled.ts';
import type { PoolRegistry } from '../upstream/pool-registry.ts';
import { sourcedValues } from './value-sources.ts';

export interface ConfigDumpInput {
  service: string;
  namespace: string;
  draining: boolean;
  current: CompiledSnapshot | undefined;
  pools: PoolRegistry;
  identity: Record<string, unknown>;
}

export function configDump(i: ConfigDumpInput): unknown {
  const current = i.current;
  const specs = new Map((current?.source.services ?? []).map((s) => [`${s.name}.${s.namespace}`, s]));
  return {
    service: i.service,
    namespace: i.namespace,
    draining: i.draining,
    identity: i.identity,
    version: current?.version ?? null,
    snapshot: current?.source ?? null,
    services: current?.services.map((s) => {
      const spec = specs.get(s.id);
      return {
        id: s.id,
        // Each effective value and where it came from (built-in, a namespace default, a ResiliencePolicy).
        policy: sourcedValues(spec?.policy, spec?.policySources),
        routes: [...s.routes.map((r) => r.policy), s.defaultRoute].map((r) => ({ name: r.name, timeouts: r.timeouts, attempts: r.retry.attempts })),
        // HTTPRoute rules, when routes are attached (they decide; `routes` above then do not apply).
        httpRoutes: s.routing === undefined ? null : {
          matches: s.routing.matches.length,
          rules: s.routing.rules.map((r, i) => {
            const rule = spec?.routing?.rules[i];
            return { name: r.name, source: rule?.source ?? null, timeouts: r.timeouts, attempts: r.retry.attempts, policy: sourcedValues(spec?.policy, spec?.policySources, rule) };
          }),
        },
        endpoints: s.endpoints.map((e) => ({
          address: e.address, name: e.name, inflight: e.stats.inflight, ewmaMs: Math.round(e.stats.ewmaMs * 1000) / 1000,
          circuit: e.breaker?.state ?? 'none', mtls: e.tls?.expected.uri ?? null,
        })),
        concurrency: { inFlight: s.concurrency.inFlight, pending: s.concurrency.pending },
      };
    }) ?? [],
    upstream: i.pools.stats(),
  };
}
