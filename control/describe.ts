// `petrel describe service NAME` / `describe pod NAME`, the control plane's side (GET
// /v1/describe/service/<ns>/<name>, /v1/describe/pod/<ns>/<name>): everything that applies to one
// service and why, from what the control plane already holds:
// - the effective policy, each value with its source (built-in, namespace default, the Service's
//   ResiliencePolicy), as the push round merged it and as the sidecar's /config_dump lays it over the
//   built-in defaults (sidecar/admin/value-sources.ts, the one copy);
// - its routes: the HTTPRoute/GRPCRoute rules of the round's compiled routing (or the ResiliencePolicy
//   `routes:` shorthand when no route is attached), each rule with its effective values and sources
//   (rule-targeted policy > the rule's own fields > route-targeted policy > Service > namespace > built-in);
// - the AccessPolicies that apply, merged as its sidecars enforce them, and which objects they came from;
// - its endpoints (the registry) with the breaker state and latency score its callers' sidecars
//   report in their stat summaries, merged per endpoint (stat-store.ts mergeEndpointViews);
// - its sidecars and the snapshot version each holds (the subscriptions, as `petrel status`).
// A pod is found by its endpoint name in the registry (in Kubernetes, the EndpointSlice's pod name;
// locally, the sidecar's --name, by default its advertised address) and described by its services.
import type { AccessSpec, RouteBackendSpec, RouteFiltersSpec, RouteMatchSpec, RouteRuleSpec, RouteSpec } from '../api/types.ts';
import { sourcedValues, type SourcedValue } from '../sidecar/admin/value-sources.ts';
import type { CompiledRound } from './compiler.ts';
import type { ServiceRecord } from './registry.ts';
import { servicesNamedByRouting } from './routing/referenced.ts';
import type { MergedEndpoint } from './stat-store.ts';
import type { SidecarStatus } from './subscription.ts';

export type { SourcedValue };

/** A route rule (HTTPRoute, GRPCRoute) or a ResiliencePolicy `routes:` entry, with its effective values. */
export interface DescribedRoute {
  /** The `route` metric label. */
  name: string;
  /** "HTTPRoute ns/name rule N", or the ResiliencePolicy that holds the `routes:` shorthand. */
  source: string;
  kind: 'rule' | 'policy route';
  /** What the rule takes (HTTPRoute matches as compiled; a shorthand route's match). */
  matches: RouteMatchSpec[] | RouteSpec['match'][];
  backends: RouteBackendSpec[];
  unresolved?: string | undefined;
  invalid?: { weight: number; why: string } | undefined;
  filters?: RouteFiltersSpec | undefined;
  /** Every effective value of a call on this rule, with its source. */
  policy: Record<string, SourcedValue>;
}

export interface DescribedEndpoint extends Omit<MergedEndpoint, 'circuit' | 'ewmaMs' | 'maxEwmaMs'> {
  /** The SPIFFE identity callers expect (mTLS); null for plaintext. */
  identity: string | null;
  /** In the registry now; false: a caller still reports it (it holds an older snapshot, or it just left). */
  registered: boolean;
  /** 'unknown' when no caller reported it (nobody called it lately, or callers run an older Petrel). */
  circuit: MergedEndpoint['circuit'] | 'unknown';
  ewmaMs: number | null;
  maxEwmaMs: number | null;
}

export interface DescribedSidecar {
  name: string;
  address: string;
  version: number | null;
  state: SidecarStatus['state'];
  connected: boolean;
  error: string | null;
  identity: string | null;
}

export interface DescribeServiceBody {
  kind: 'service';
  service: string;
  namespace: string;
  policy: Record<string, SourcedValue>;
  /** HTTPRoute rules when routes are attached (they decide), else the policy's `routes:` shorthand. */
  routes: DescribedRoute[];
  /** The merged AccessPolicy the service's sidecars enforce; null when none applies (every caller allowed). */
  access: (AccessSpec & { sources: string[] }) | null;
  endpoints: DescribedEndpoint[];
  sidecars: DescribedSidecar[];
}

export interface DescribePodBody {
  kind: 'pod';
  pod: string;
  namespace: string;
  services: DescribeServiceBody[];
}

export interface DescribeInput {
  round: CompiledRound;
  services: readonly ServiceRecord[];
  sidecars: readonly SidecarStatus[];
  /** The endpoints of "name.namespace" as callers report them. */
  endpoints: (service: string) => MergedEndpoint[];
}

/** A described thing that does not exist: 404 with a sentence naming what does, nearby. */
export class NotFound extends Error {}

/** Every service the round knows: registered endpoints, or named by a route. */
function knownServices(i: DescribeInput): Map<string, { name: string; namespace: string }> {
  const known = new Map<string, { name: string; namespace: string }>();
  for (const s of i.services) known.set(`${s.name}.${s.namespace}`, s);
  for (const [key, s] of servicesNamedByRouting(i.round.routing)) if (!known.has(key)) known.set(key, s);
  return known;
}

const list = (names: string[], max = 20): string => (names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`);

export function describeService(i: DescribeInput, namespace: string, name: string): DescribeServiceBody {
  const known = knownServices(i);
  const key = `${name}.${namespace}`;
  if (!known.has(key)) {
    const here = [...known.values()].filter((s) => s.namespace === namespace).map((s) => s.name).sort();
    const elsewhere = [...known.values()].filter((s) => s.name === name).map((s) => `${s.name}.${s.namespace}`).sort();
    throw new NotFound(`no service ${name} in namespace ${namespace}; `
      + (here.length > 0 ? `services there: ${list(here)}` : 'no services there')
      + (elsewhere.length > 0 ? `; ${name} exists in: ${list(elsewhere)} (-n NAMESPACE)` : ''));
  }
  const sourced = i.round.sourcedPolicyFor(name, namespace);
  const policy = sourced?.policy;
  const sources = sourced?.sources;
  const routing = i.round.routing.get(key);
  let routes: DescribedRoute[];
  if (routing !== undefined) {
    routes = routing.rules.map((rule, index) => ({
      name: rule.name, source: rule.source, kind: 'rule',
      matches: routing.matches.filter((m) => m.rule === index).map((m) => m.match),
      backends: rule.backends, unresolved: rule.unresolved, invalid: rule.invalid, filters: rule.filters,
      policy: sourcedValues(policy, sources, rule),
    }));
  } else {
    routes = (policy?.routes ?? []).map((r) => {
      const source = sources?.routes ?? 'the policy';
      const asRule: RouteRuleSpec = { name: r.name, source, backends: [], timeout: r.timeout, retry: r.retry, rateLimit: r.rateLimit, fault: r.fault };
      return { name: r.name, source, kind: 'policy route', matches: r.match === undefined ? [] : [r.match], backends: [], policy: sourcedValues(policy, sources, asRule) };
    });
  }
  const access = i.round.access.accessFor(name, namespace);
  const registered = i.services.find((s) => s.name === name && s.namespace === namespace)?.endpoints ?? [];
  const reported = new Map(i.endpoints(key).map((e) => [e.address, e]));
  const endpoints: DescribedEndpoint[] = registered.map((e) => {
    const r = reported.get(e.address);
    reported.delete(e.address);
    return r === undefined
      ? { address: e.address, name: e.name, identity: e.identity ?? null, registered: true, circuit: 'unknown', openBy: [], halfOpenBy: [], ewmaMs: null, maxEwmaMs: null, inflight: 0, callers: [] }
      : { ...r, name: e.name, identity: e.identity ?? null, registered: true };
  });
  for (const r of reported.values()) endpoints.push({ ...r, identity: null, registered: false });
  const sidecars = i.sidecars
    .filter((s) => s.service === name && s.namespace === namespace)
    .map((s) => ({ name: s.name, address: s.address, version: s.version, state: s.state, connected: s.connected, error: s.error, identity: s.identity }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    kind: 'service', service: name, namespace,
    policy: sourcedValues(policy, sources),
    routes,
    access: access === undefined ? null : { ...access, sources: i.round.access.sourcesFor(name, namespace) },
    endpoints, sidecars,
  };
}

export function describePod(i: DescribeInput, namespace: string, pod: string): DescribePodBody {
  const owning = i.services.filter((s) => s.namespace === namespace && s.endpoints.some((e) => e.name === pod));
  if (owning.length === 0) {
    const pods = [...new Set(i.services.filter((s) => s.namespace === namespace).flatMap((s) => s.endpoints.map((e) => e.name)))].sort();
    throw new NotFound(`no pod ${pod} in namespace ${namespace} is an endpoint of a mesh service; `
      + (pods.length > 0 ? `endpoints there: ${list(pods)}` : 'no endpoints there'));
  }
  return { kind: 'pod', pod, namespace, services: owning.map((s) => describeService(i, namespace, s.name)) };
}
