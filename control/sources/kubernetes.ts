// `--kubernetes`: ResiliencePolicy and AccessPolicy resources and EndpointSlices through @kubernetes/client-node
// informers. The library relists on 410 Gone but stops for good after any other error, so each
// informer is restarted here with backoff. Every policy gets an Accepted condition written back to
// its status subresource: True, or False with the field paths that failed validation. An invalid
// edit of a policy leaves its last good version in force.
import { EventEmitter } from 'node:events';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { AccessPolicySpec, ResiliencePolicySpec } from '../../api/types.ts';
import { validateAccessPolicyDocument, validatePolicyDocument, type ValidationIssue } from '../../api/validate.ts';
import type { PolicySource, SourceState, StoredPolicy } from '../policy.ts';
import type { Registry, ServiceRecord } from '../registry.ts';
import { loadKubeConfig } from '../kube-config.ts';
import { DEFAULT_POLICY_LIMITS, type PolicyLimits } from './policy-limits.ts';
import { DEFAULT_TRUST_DOMAIN, formatSpiffe } from '../../sidecar/identity/spiffe.ts';
import { PodIdentities } from './pod-identities.ts';

const GROUP = 'petrel.dev';
const VERSION = 'v1alpha1';
const PLURAL = 'resiliencepolicies';
const ACCESS_PLURAL = 'accesspolicies';

/** What differs between the policy kinds: their resource, their schema, how they are stored. */
interface PolicyKind {
  readonly kind: StoredPolicy['kind'];
  readonly plural: string;
  readonly validate: (doc: unknown) => ValidationIssue[];
  /** Map key and origin prefix; ResiliencePolicy keeps the bare "ns/name" it always had. */
  readonly prefix: string;
}
const RESILIENCE: PolicyKind = { kind: 'ResiliencePolicy', plural: PLURAL, validate: validatePolicyDocument, prefix: '' };
const ACCESS: PolicyKind = { kind: 'AccessPolicy', plural: ACCESS_PLURAL, validate: validateAccessPolicyDocument, prefix: 'AccessPolicy ' };
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Restart backoff for a failed informer: 500 ms doubling to 30 s. */
const RESTART = { baseMs: 500, maxMs: 30_000 };

interface PolicyObject extends k8s.KubernetesObject {
  spec?: ResiliencePolicySpec | AccessPolicySpec;
  status?: { conditions?: Condition[]; observedGeneration?: number };
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

    for (const [name, informer] of [['ResiliencePolicy', policies], ['AccessPolicy', access], ['EndpointSlice', slices]] as const) {
      this.#informers.push(informer);
      this.#superviseInformer(name, informer);
      await informer.start();
    }
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
    const services = servicesFromSlices(slices, this.#endpointIdentity);
    // Which endpoints go plaintext for want of an identity, at debug, when that changes.
    const plaintext = services.flatMap((s) => s.endpoints.filter((e) => e.identity === undefined).map((e) => `${s.namespace}/${e.name}`));
    const summary = plaintext.join(',');
    if (summary !== this.#unidentified) {
      this.#unidentified = summary;
      if (plaintext.length > 0) this.#o.log.debug({ count: plaintext.length, endpoints: plaintext.slice(0, 20) }, 'endpoints without an identity (pod not known yet, or no sidecar): callers use plaintext');
    }
    this.#o.registry.setExternal('kubernetes', services);
  }

  /** The library gives up after an error other than 410; start it again, with backoff. */
  #superviseInformer(kind: string, informer: k8s.Informer<k8s.KubernetesObject>): void {
    let delay = RESTART.baseMs;
    let lastError = 0;
    informer.on('error', (err: unknown) => {
      if (this.#stopped) return;
      // A failure long after the previous one starts the backoff afresh.
      if (Date.now() - lastError > 2 * RESTART.maxMs) delay = RESTART.baseMs;
      lastError = Date.now();
      this.#o.log.warn({ kind, err: (err as Error)?.message ?? String(err), retryInMs: delay }, 'informer failed; restarting');
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
    const issues = kind.validate({ apiVersion: object.apiVersion, kind: object.kind, metadata: { name, namespace }, spec: object.spec });
    const origin = `kubernetes ${key}`;
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
      this.#good.set(key, kind.kind === 'AccessPolicy'
        ? { ...base, kind: 'AccessPolicy', spec: object.spec as AccessPolicySpec }
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
    void this.#writeStatus(object, condition, api, kind.plural);
  }

  #onPolicyDeleted(object: PolicyObject, kind: PolicyKind): void {
    const namespace = object.metadata?.namespace ?? 'default';
    const key = `${kind.prefix}${namespace}/${object.metadata?.name ?? ''}`;
    if (this.#good.delete(key)) this.#perNamespace.set(namespace, (this.#perNamespace.get(namespace) ?? 1) - 1);
    this.#errors.delete(`kubernetes ${key}`);
    this.emit('change');
  }

  /** Writes the Accepted condition unless the object already carries it for this generation. */
  async #writeStatus(object: PolicyObject, condition: Condition, api: k8s.CustomObjectsApi, plural: string): Promise<void> {
    const generation = object.metadata?.generation;
    const current = object.status?.conditions?.find((c) => c.type === 'Accepted');
    if (current && current.status === condition.status && current.message === condition.message && current.observedGeneration === generation) return;
    const lastTransitionTime = current?.status === condition.status && current.lastTransitionTime ? current.lastTransitionTime : new Date().toISOString();
    const status = { observedGeneration: generation, conditions: [{ ...condition, observedGeneration: generation, lastTransitionTime }] };
    try {
      await api.patchNamespacedCustomObjectStatus({
        group: GROUP, version: VERSION, plural, namespace: object.metadata?.namespace ?? 'default', name: object.metadata?.name ?? '',
        body: [{ op: 'add', path: '/status', value: status }],
      });
    } catch (err) {
      this.#o.log.warn({ policy: object.metadata?.name, err: (err as Error).message }, 'could not write the policy status');
    }
  }
}

/**
 * EndpointSlices -> services: ready endpoints, address:port (the slice's first port), each with the
 * identity its sidecar presents when `identity` knows it.
 */
export function servicesFromSlices(slices: readonly k8s.V1EndpointSlice[], identity: (endpoint: k8s.V1Endpoint, sliceNamespace: string) => string | undefined = () => undefined): ServiceRecord[] {
  const byService = new Map<string, ServiceRecord>();
  for (const slice of slices) {
    const name = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const namespace = slice.metadata?.namespace ?? 'default';
    if (name === undefined) continue;
    const id = `${name}.${namespace}`;
    let service = byService.get(id);
    if (service === undefined) byService.set(id, (service = { name, namespace, endpoints: [] }));
    const port = slice.ports?.[0]?.port ?? 80;
    for (const endpoint of slice.endpoints ?? []) {
      if (endpoint.conditions?.ready === false) continue;
      const endpointIdentity = identity(endpoint, namespace);
      for (const address of endpoint.addresses) {
        const host = address.includes(':') ? `[${address}]` : address;
        service.endpoints.push({ address: `${host}:${port}`, name: endpoint.targetRef?.name ?? address, ...(endpointIdentity === undefined ? {} : { identity: endpointIdentity }) });
      }
    }
  }
  return [...byService.values()];
}
