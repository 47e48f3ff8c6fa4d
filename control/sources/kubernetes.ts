// `--kubernetes`: ResiliencePolicy and AccessPolicy resources, Gateway API HTTPRoutes and GRPCRoutes,
// Services and EndpointSlices through @kubernetes/client-node informers. The library relists on 410 Gone but
// stops for good after any other error, so each informer is restarted here with backoff. Every
// policy gets an Accepted condition written back to its status subresource: True, or False with the
// field paths that failed validation; an HTTPRoute or GRPCRoute gets the Gateway API's status.parents
// entries instead (route-status.ts). An invalid edit leaves the last good version in force.
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AccessPolicySpec, GrpcRouteSpec, HttpRouteSpec, ResiliencePolicySpec } from '../../api/types.ts';
import { validateAccessPolicyDocument, validateGrpcRouteDocument, validateHttpRouteDocument, validatePolicyDocument, type ValidationIssue } from '../../api/validate.ts';
import type { PolicySource, SourceState, StoredPolicy } from '../policy.ts';
import type { Registry } from '../registry.ts';
import { servicesFromSlices } from './endpoint-slices.ts';
import { loadKubeConfig } from '../kube-config.ts';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from './policy-limits.ts';
import { DEFAULT_TRUST_DOMAIN, formatSpiffe } from '../../sidecar/identity/spiffe.ts';
import { PodIdentities } from './pod-identities.ts';
import { desiredParents, mergeParents, serviceParents, type RouteObject, type RouteParentStatus } from './route-status.ts';
import { RouteConflicts } from './route-conflicts.ts';
import { ServiceIndex } from './services.ts';

const GROUP = 'petrel.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'resiliencepolicies';
const ACCESS_PLURAL = 'accesspolicies';

/** What differs between the policy kinds: their resource, their schema, how they are stored. */
interface PolicyKind {
  readonly kind: StoredPolicy['kind'];
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly validate: (doc: unknown) => ValidationIssue[];
  /** Map key and origin prefix; ResiliencePolicy keeps the bare "ns/name" it always had. */
  readonly prefix: string;
}
const RESILIENCE: PolicyKind = { kind: 'ResiliencePolicy', group: GROUP, version: VERSION, plural: PLURAL, validate: validatePolicyDocument, prefix: '' };
const ACCESS: PolicyKind = { kind: 'AccessPolicy', group: GROUP, version: VERSION, plural: ACCESS_PLURAL, validate: validateAccessPolicyDocument, prefix: 'AccessPolicy ' };
/** Gateway API HTTPRoutes and GRPCRoutes (GAMMA): the upstream CRDs, which may not be installed. */
const HTTPROUTE: PolicyKind = { kind: 'HTTPRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', validate: validateHttpRouteDocument, prefix: 'HTTPRoute ' };
const GRPCROUTE: PolicyKind = { kind: 'GRPCRoute', group: 'gateway.networking.k8s.io', version: 'v1', plural: 'grpcroutes', validate: validateGrpcRouteDocument, prefix: 'GRPCRoute ' };
const ROUTE_KINDS: readonly PolicyKind[] = [HTTPROUTE, GRPCROUTE];
const isRouteKind = (kind: PolicyKind): boolean => kind === HTTPROUTE || kind === GRPCROUTE;
/** Restart backoff for a failed informer: 500 ms doubling to 30 s. */
const RESTART = { baseMs: 500, maxMs: 30_000 };

interface PolicyObject extends k8s.KubernetesObject {
  spec?: ResiliencePolicySpec | AccessPolicySpec | HttpRouteSpec | GrpcRouteSpec;
  status?: { conditions?: Condition[]; observedGeneration?: number; parents?: RouteParentStatus[] };
}

interface Condition { type: string; status: 'True' | 'False'; reason: string; message: string; observedGeneration?: number; lastTransitionTime?: string }

export interface KubernetesSourceOptions {
  /** A kubeconfig file; in-cluster or ~/.kube/config when omitted. */
  kubeconfig: string | undefined;
  registry: Registry;
  log: Logger;
  limits?: PolicyLimits;
  /** Trust domain of endpoint identities (spiffe://<td>/ns/<ns>/sa/<sa>). Default cluster.local. */
  trustDomain?: string;
}

export class KubernetesSource extends EventEmitter implements PolicySource {
  readonly #o: KubernetesSourceOptions;
  readonly #good = new Map<string, StoredPolicy>();
  readonly #errors = new Map<string, string[]>();
  /** Policies in force per namespace, for the per-namespace bound. */
  readonly #perNamespace = new Map<string, number>();
  readonly #informers: { stop(): Promise<void> }[] = [];
  /** Per route key ("HTTPRoute ns/name"): the generation last judged and, when it failed, the Accepted=False message. */
  readonly #routeVerdicts = new Map<string, { generation: number | undefined; invalid: string | undefined }>();
  /** The route informers by kind, for writing every route's status again. */
  readonly #routes = new Map<PolicyKind, k8s.Informer<PolicyObject> & k8s.ObjectCache<PolicyObject>>();
  #custom: k8s.CustomObjectsApi | undefined;
  #services: ServiceIndex | undefined;
  /** The route kinds whose missing CRD was logged already (once each). */
  readonly #crdsMissingLogged = new Set<PolicyKind>();
  #pods: PodIdentities | undefined;
  #unidentified = '';
  #stopped = false;

  constructor(options: KubernetesSourceOptions) {
    super();
    this.#o = options;
  }

  async start(): Promise<void> {
    const kc = loadKubeConfig(this.#o.kubeconfig);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);

    const policies = k8s.makeInformer<PolicyObject>(kc, `/apis/${GROUP}/${VERSION}/${PLURAL}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL }) as Promise<k8s.KubernetesListObject<PolicyObject>>);
    policies.on('add', (o) => this.#onPolicy(o, custom, RESILIENCE));
    policies.on('update', (o) => this.#onPolicy(o, custom, RESILIENCE));
    policies.on('delete', (o) => this.#onPolicyDeleted(o, RESILIENCE));

    // AccessPolicies: the same Accepted condition, bounds and last-good-version rule.
    const access = k8s.makeInformer<PolicyObject>(kc, `/apis/${GROUP}/${VERSION}/${ACCESS_PLURAL}`,
      () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL }) as Promise<k8s.KubernetesListObject<PolicyObject>>);
    access.on('add', (o) => this.#onPolicy(o, custom, ACCESS));
    access.on('update', (o) => this.#onPolicy(o, custom, ACCESS));
    access.on('delete', (o) => this.#onPolicyDeleted(o, ACCESS));

    // HTTPRoutes and GRPCRoutes (gateway.networking.k8s.io/v1, all namespaces) attached to Services.
    // The CRDs are upstream's and may be missing (GRPCRoute joined the standard channel in v1.1): the
    // list then answers 404, logged once per kind, retried with backoff.
    for (const kind of ROUTE_KINDS) {
      const routes = k8s.makeInformer<PolicyObject>(kc, `/apis/${kind.group}/${kind.version}/${kind.plural}`,
        () => custom.listClusterCustomObject({ group: kind.group, version: kind.version, plural: kind.plural }) as Promise<k8s.KubernetesListObject<PolicyObject>>);
      routes.on('add', (o) => this.#onPolicy(o, custom, kind));
      routes.on('update', (o) => this.#onPolicy(o, custom, kind));
      routes.on('delete', (o) => this.#onPolicyDeleted(o, kind));
      this.#routes.set(kind, routes);
    }
    this.#custom = custom;

    const slices = k8s.makeInformer<k8s.V1EndpointSlice>(kc, '/apis/discovery.k8s.io/v1/endpointslices',
      () => discovery.listEndpointSliceForAllNamespaces());
    const publishSlices = () => this.#publishEndpoints(slices.list());
    for (const verb of ['add', 'update', 'delete'] as const) slices.on(verb, publishSlices);

    // Endpoint identities: the service account of each endpoint's pod. Pods are listed first, so
    // that the first endpoints published already carry the identities known by then.
    const pods = new PodIdentities(kc, this.#o.log, publishSlices);
    this.#pods = pods;
    this.#informers.push(pods.informer);
    this.#superviseInformer('Pod', pods.informer);
    await pods.informer.start();

    // Services before routes: a route's ResolvedRefs names the Services that do not exist. Their ports
    // decide which slice port backs which Service port, so endpoints are published again too.
    const services = new ServiceIndex(kc, this.#o.log, () => {
      this.#refreshRouteStatus();
      publishSlices();
    });
    this.#services = services;
    this.#informers.push(services.informer);
    this.#superviseInformer('Service', services.informer);
    await services.informer.start();

    const routeInformers = ROUTE_KINDS.map((kind) => [kind, this.#routes.get(kind)!] as const);
    for (const [name, informer, kind] of [['ResiliencePolicy', policies], ['AccessPolicy', access], ...routeInformers.map(([k, i]) => [k.kind, i, k] as const), ['EndpointSlice', slices]] as const) {
      this.#informers.push(informer);
      this.#superviseInformer(name, informer, kind === undefined ? undefined : (err) => this.#routesUnavailable(err, kind));
      await informer.start();
    }
  }

  /** ClusterIP -> Service, from the Service informer (empty before start). */
  clusterIps(): Map<string, { name: string; namespace: string }> {
    return this.#services?.clusterIps() ?? new Map();
  }

  /** A 404 on a route kind: its Gateway API CRD is not installed. Logged once per kind; the restart backoff retries. */
  #routesUnavailable(err: unknown, kind: PolicyKind): boolean {
    const e = err as { code?: number; statusCode?: number } | undefined;
    if (e?.code !== 404 && e?.statusCode !== 404) return false;
    if (!this.#crdsMissingLogged.has(kind)) {
      this.#crdsMissingLogged.add(kind);
      this.#o.log.warn({ resource: `${kind.plural}.${kind.group}` }, `Gateway API CRDs are not installed: ${kind.kind}s are not watched until they are (retrying with backoff); install the standard channel to route with ${kind.kind}`);
    }
    return true;
  }

  stop(): void {
    this.#stopped = true;
    for (const i of this.#informers) void i.stop();
  }

  state(): SourceState {
    return {
      policies: [...this.#good.values()].sort((a, b) => a.key.localeCompare(b.key)),
      errors: [...this.#errors].sort(([a], [b]) => a.localeCompare(b)).map(([origin, errors]) => ({ origin, errors })),
    };
  }

  /**
   * The SPIFFE identity an endpoint's sidecar presents: from the service account of the pod its
   * targetRef names. Undefined (callers use plaintext) while that pod is unknown or has no sidecar.
   */
  readonly #endpointIdentity = (endpoint: k8s.V1Endpoint, sliceNamespace: string): string | undefined => {
    const ref = endpoint.targetRef;
    if (ref?.kind !== 'Pod' || ref.name === undefined) return undefined;
    const namespace = ref.namespace ?? sliceNamespace;
    const serviceAccount = this.#pods?.serviceAccount(namespace, ref.name);
    return serviceAccount === undefined ? undefined : formatSpiffe(this.#o.trustDomain ?? DEFAULT_TRUST_DOMAIN, namespace, serviceAccount);
  };

  #publishEndpoints(slices: readonly k8s.V1EndpointSlice[]): void {
    const index = this.#services;
    const services = servicesFromSlices(slices, this.#endpointIdentity, (namespace, name) => index?.get(namespace, name), index?.informer.list() ?? []);
    // Which endpoints go plaintext for want of an identity, at debug, when that changes.
    const plaintext = services.flatMap((s) => s.endpoints.filter((e) => e.identity === undefined).map((e) => `${s.namespace}/${e.name}`));
    const summary = plaintext.join(',');
    if (summary !== this.#unidentified) {
      this.#unidentified = summary;
      if (plaintext.length > 0) this.#o.log.debug({ count: plaintext.length, endpoints: plaintext.slice(0, 20) }, 'endpoints without an identity (pod not known yet, or no sidecar): callers use plaintext');
    }
    this.#o.registry.setExternal('kubernetes', services);
  }

  /**
   * The library gives up after an error other than 410; start it again, with backoff. `quiet`
   * may take an error over (log it its own way) by returning true.
   */
  #superviseInformer(kind: string, informer: k8s.Informer<k8s.KubernetesObject>, quiet?: (err: unknown) => boolean): void {
    let delay = RESTART.baseMs;
    let lastError = 0;
    informer.on('error', (err: unknown) => {
      if (this.#stopped) return;
      // A failure long after the previous one starts the backoff afresh.
      if (Date.now() - lastError > 2 * RESTART.maxMs) delay = RESTART.baseMs;
      lastError = Date.now();
      if (quiet?.(err) !== true) this.#o.log.warn({ kind, err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'informer failed; restarting');
      const wait = delay;
      delay = Math.min(delay * 2, RESTART.maxMs);
      setTimeout(() => {
        if (!this.#stopped) informer.start().catch((e: Error) => this.#o.log.warn({ kind, err: e.message }, 'informer restart failed'));
      }, wait).unref();
    });
  }

  #onPolicy(object: PolicyObject, api: k8s.CustomObjectsApi, kind: PolicyKind): void {
    const namespace = object.metadata?.namespace ?? 'default';
    const name = object.metadata?.name ?? '';
    const policyKey = `${namespace}/${name}`;
    const key = `${kind.prefix}${policyKey}`;
    const origin = `kubernetes ${key}`;
    const route = isRouteKind(kind);
    if (route && serviceParents(object as RouteObject).length === 0) {
      // Attached only to Gateways (or to nothing): another controller's route, not the mesh's.
      this.#forget(key, namespace);
      this.#routeVerdicts.delete(key);
      this.emit('change');
      this.#routeChanged(object, kind);
      return;
    }
    const created = route ? creationTimestamp(object) : undefined;
    const metadata = { name, namespace, ...(created === undefined ? {} : { creationTimestamp: created }) };
    const issues = kind.validate({ apiVersion: object.apiVersion, kind: object.kind, metadata, spec: object.spec });
    const limits = this.#o.limits ?? DEFAULT_POLICY_LIMITS;
    if (issues.length === 0 && !this.#good.has(key)) {
      // Bounded: a namespace (or the cluster) full of policies must not take the control plane's memory.
      const inNamespace = this.#perNamespace.get(namespace) ?? 0;
      if (inNamespace >= limits.maxPoliciesPerNamespace) {
        issues.push({ path: '', segments: [], message: `namespace ${namespace} already holds ${inNamespace} policies; the limit is ${limits.maxPoliciesPerNamespace} per namespace` });
      } else if (this.#good.size >= limits.maxPolicies) {
        issues.push({ path: '', segments: [], message: `the cluster already holds ${this.#good.size} policies; the limit is ${limits.maxPolicies}` });
      }
    }
    let condition: Condition;
    if (issues.length === 0) {
      if (!this.#good.has(key)) this.#perNamespace.set(namespace, (this.#perNamespace.get(namespace) ?? 0) + 1);
      const base = { key: policyKey, namespace, name, origin };
      this.#good.set(key, kind.kind === 'AccessPolicy' ? { ...base, kind: 'AccessPolicy', spec: object.spec as AccessPolicySpec }
        : kind.kind === 'HTTPRoute' ? { ...base, kind: 'HTTPRoute', spec: object.spec as HttpRouteSpec, ...(created === undefined ? {} : { creationTimestamp: created }) }
        : kind.kind === 'GRPCRoute' ? { ...base, kind: 'GRPCRoute', spec: object.spec as GrpcRouteSpec, ...(created === undefined ? {} : { creationTimestamp: created }) }
        : { ...base, kind: 'ResiliencePolicy', spec: object.spec as ResiliencePolicySpec });
      this.#errors.delete(origin);
      condition = { type: 'Accepted', status: 'True', reason: 'Valid', message: 'the policy is in force' };
    } else {
      const lines = issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
      this.#errors.set(origin, lines);
      const kept = this.#good.has(key) ? ' The previous version stays in force.' : '';
      condition = { type: 'Accepted', status: 'False', reason: 'Invalid', message: `${lines.join('; ')}.${kept}` };
    }
    this.emit('change');
    if (route) {
      this.#routeVerdicts.set(key, { generation: object.metadata?.generation, invalid: condition.status === 'True' ? undefined : condition.message });
      this.#routeChanged(object, kind);
    } else {
      void this.#writeStatus(object, condition, api, kind);
    }
  }

  #onPolicyDeleted(object: PolicyObject, kind: PolicyKind): void {
    const namespace = object.metadata?.namespace ?? 'default';
    const key = `${kind.prefix}${namespace}/${object.metadata?.name ?? ''}`;
    this.#forget(key, namespace);
    this.#routeVerdicts.delete(key);
    this.emit('change');
    // A GRPCRoute gone may end an HTTPRoute's conflict on the same Service.
    if (kind === GRPCROUTE) this.#refreshRouteStatus();
  }

  #forget(key: string, namespace: string): void {
    if (this.#good.delete(key)) this.#perNamespace.set(namespace, (this.#perNamespace.get(namespace) ?? 1) - 1);
    this.#errors.delete(`kubernetes ${key}`);
  }

  /**
   * A route was judged: its status, and when it is a GRPCRoute every HTTPRoute's too, whose
   * Accepted depends on the GRPCRoutes on the same Service and port (GEP-1294, Conflicted).
   */
  #routeChanged(object: PolicyObject, kind: PolicyKind): void {
    if (kind === GRPCROUTE) this.#refreshRouteStatus();
    else void this.#writeRouteStatus(object, kind);
  }

  /** Services (or GRPCRoutes) changed: every route's status again (written only where it changes). */
  #refreshRouteStatus(): void {
    const conflicts = this.#conflicts();
    for (const [kind, informer] of this.#routes) for (const object of informer.list()) void this.#writeRouteStatus(object, kind, conflicts);
  }

  /** The GRPCRoutes in force, by the Service parents they attach to. */
  #conflicts(): RouteConflicts {
    return new RouteConflicts([...this.#good.values()].filter((p) => p.kind === 'GRPCRoute'));
  }

  /**
   * Writes this controller's status.parents entries (one per Service parentRef, Accepted and
   * ResolvedRefs) unless the route already carries them. A merge patch of the status subresource,
   * conditional on the resourceVersion read: another controller's entries are never overwritten
   * with a stale copy (a 409 is followed by the update event, which writes again).
   */
  async #writeRouteStatus(object: PolicyObject, kind: PolicyKind, conflicts?: RouteConflicts): Promise<void> {
    const api = this.#custom;
    const services = this.#services;
    if (api === undefined || services === undefined) return;
    const namespace = object.metadata?.namespace ?? 'default';
    const name = object.metadata?.name ?? '';
    const verdict = this.#routeVerdicts.get(`${kind.prefix}${namespace}/${name}`);
    // Not judged at this generation yet: the add/update event that judges it writes the status.
    if (serviceParents(object as RouteObject).length > 0 && verdict?.generation !== object.metadata?.generation) return;
    // Only an HTTPRoute can be Conflicted: GRPCRoute wins a Service and port (GEP-1294).
    const conflicted = kind === HTTPROUTE ? (conflicts ?? this.#conflicts()).conflictWith(namespace) : undefined;
    const desired = desiredParents(object as RouteObject, verdict?.invalid, services, conflicted);
    const parents = mergeParents(object.status?.parents, desired, new Date().toISOString().replace(/\.\d+Z$/, 'Z'));
    if (parents === undefined) return;
    try {
      await api.patchNamespacedCustomObjectStatus({
        group: kind.group, version: kind.version, plural: kind.plural, namespace, name,
        body: { metadata: { resourceVersion: object.metadata?.resourceVersion }, status: { parents } },
      }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409) this.#o.log.debug({ route: `${namespace}/${name}` }, 'route status: the route changed meanwhile; written again on its update');
      else this.#o.log.warn({ route: `${namespace}/${name}`, kind: kind.kind, err: (err as Error).message }, 'could not write the route status');
    }
  }

  /** Writes the Accepted condition unless the object already carries it for this generation. */
  async #writeStatus(object: PolicyObject, condition: Condition, api: k8s.CustomObjectsApi, kind: PolicyKind): Promise<void> {
    const generation = object.metadata?.generation;
    const current = object.status?.conditions?.find((c) => c.type === 'Accepted');
    if (current && current.status === condition.status && current.message === condition.message && current.observedGeneration === generation) return;
    const lastTransitionTime = current?.status === condition.status && current.lastTransitionTime ? current.lastTransitionTime : new Date().toISOString();
    const status = { observedGeneration: generation, conditions: [{ ...condition, observedGeneration: generation, lastTransitionTime }] };
    try {
      await api.patchNamespacedCustomObjectStatus({
        group: kind.group, version: kind.version, plural: kind.plural, namespace: object.metadata?.namespace ?? 'default', name: object.metadata?.name ?? '',
        body: [{ op: 'add', path: '/status', value: status }],
      });
    } catch (err) {
      this.#o.log.warn({ policy: object.metadata?.name, err: (err as Error).message }, 'could not write the policy status');
    }
  }
}

/** metadata.creationTimestamp as RFC 3339 (client-node may have made it a Date). */
function creationTimestamp(object: k8s.KubernetesObject): string | undefined {
  const value = object.metadata?.creationTimestamp as unknown;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value.toISOString();
  return typeof value === 'string' ? value : undefined;
}
