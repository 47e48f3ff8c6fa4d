// Which service account each meshed pod runs as, for the identities of EndpointSlice endpoints: an
// endpoint's sidecar presents spiffe://<td>/ns/<pod namespace>/sa/<pod's serviceAccountName>, and a
// caller checks exactly that name. A pod informer over all namespaces, kept small: pods without a
// Petrel sidecar never enter the cache (their events only move the watch's resourceVersion on), and
// a meshed pod is cached as its name, namespace, resourceVersion and service account, nothing more.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { oncePerTick, SlimWatch } from './slim-watch.ts';
import { PROXY_CONTAINER } from '../injection/pod-injector.ts';

/** More meshed pods than this are not tracked (their endpoints stay plaintext); the control plane's memory stays bounded. */
export const MAX_TRACKED_PODS = 100_000;

/** A meshed pod as the cache keeps it. */
interface SlimPod extends k8s.KubernetesObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  serviceAccount: string;
}

interface RawPod {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { serviceAccountName?: string; initContainers?: { name?: string }[] };
}

/**
 * A pod with the injected sidecar, reduced to what identity needs; undefined for any other pod.
 * The sidecar is an init container (a native sidecar), and a pod's init containers and service
 * account cannot change after it is created, so a pod is meshed or not for its whole life.
 */
export function slimPod(pod: RawPod): SlimPod | undefined {
  const { name, namespace, resourceVersion } = pod.metadata ?? {};
  if (name === undefined || namespace === undefined) return undefined;
  if (!(pod.spec?.initContainers ?? []).some((c) => c.name === PROXY_CONTAINER)) return undefined;
  // The API server fills in "default" at admission; an object without it was never admitted.
  const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
  return { metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) }, serviceAccount };
}

/** The pod informer and its lookup; onChange runs (once per burst) when a pod's service account becomes known, changes or goes. */
export class PodIdentities {
  readonly informer: k8s.Informer<SlimPod> & k8s.ObjectCache<SlimPod>;
  /** namespace/name -> serviceAccountName of every meshed pod the informer holds. */
  readonly #accounts = new Map<string, string>();
  readonly #log: Logger;
  #warnedOverBound = false;

  constructor(kc: k8s.KubeConfig, log: Logger, onChange: () => void, maxPods = MAX_TRACKED_PODS) {
    this.#log = log;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const admit = (pod: SlimPod): boolean => {
      if (this.#accounts.size < maxPods || this.#accounts.has(key(pod))) return true;
      if (!this.#warnedOverBound) this.#log.warn({ maxPods }, 'too many meshed pods to track; endpoints of the others get no identity (plaintext)');
      this.#warnedOverBound = true;
      return false;
    };
    const list = async (): Promise<k8s.KubernetesListObject<SlimPod>> => {
      const pods = await core.listPodForAllNamespaces();
      const items = pods.items.map((p) => slimPod(p as RawPod)).filter((p): p is SlimPod => p !== undefined).slice(0, maxPods);
      return { apiVersion: 'v1', kind: 'PodList', metadata: pods.metadata ?? {}, items };
    };
    this.informer = new k8s.ListWatch<SlimPod>('/api/v1/pods', new SlimWatch<RawPod, SlimPod>(kc, slimPod, admit), list, false);
    // A relist or a burst of pod events republishes the endpoints once.
    const changed = oncePerTick(onChange);
    const set = (pod: SlimPod) => {
      if (this.#accounts.get(key(pod)) === pod.serviceAccount) return; // a status update: nothing for identity
      this.#accounts.set(key(pod), pod.serviceAccount);
      changed();
    };
    this.informer.on('add', set);
    this.informer.on('update', set);
    this.informer.on('delete', (pod) => {
      if (!this.#accounts.delete(key(pod))) return;
      if (this.#accounts.size < maxPods) this.#warnedOverBound = false;
      changed();
    });
  }

  /** The service account of a meshed pod, or undefined when the pod is not (yet) known or has no sidecar. */
  serviceAccount(namespace: string, name: string): string | undefined {
    return this.#accounts.get(`${namespace}/${name}`);
  }

  get size(): number {
    return this.#accounts.size;
  }
}

function key(pod: SlimPod): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}
