// Every Service of the cluster, reduced to what the mesh needs of it: name, namespace, ports and
// ClusterIPs. A Service informer over all namespaces whose cache holds only those fields (the watch
// slims each object before the informer sees it), bounded in count. HTTPRoute status uses it to
// say whether a backendRef names a Service that exists (ResolvedRefs); clusterIps() is the
// ClusterIP -> Service map that transparent interception will need.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { oncePerTick, SlimWatch } from './slim-watch.ts';

/** More Services than this are not tracked; the control plane's memory stays bounded. */
export const MAX_TRACKED_SERVICES = 100_000;

export interface ServicePort { port: number; name?: string; protocol?: string; appProtocol?: string }

/** A Service as the cache keeps it. */
export interface SlimService extends k8s.KubernetesObject {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  /** spec.clusterIPs (or spec.clusterIP); empty for a headless Service ("None"). */
  clusterIps: string[];
  ports: ServicePort[];
}

interface RawService {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: { clusterIP?: string; clusterIPs?: string[]; ports?: { port?: number; name?: string; protocol?: string; appProtocol?: string }[] };
}

export function slimService(service: RawService): SlimService | undefined {
  const { name, namespace, resourceVersion } = service.metadata ?? {};
  if (name === undefined || namespace === undefined) return undefined;
  const ips = service.spec?.clusterIPs ?? (service.spec?.clusterIP === undefined ? [] : [service.spec.clusterIP]);
  const ports = (service.spec?.ports ?? []).filter((p) => typeof p.port === 'number').map((p) => ({
    port: p.port as number,
    ...(p.name === undefined ? {} : { name: p.name }),
    ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
    ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
  }));
  return {
    metadata: { name, namespace, ...(resourceVersion === undefined ? {} : { resourceVersion }) },
    clusterIps: ips.filter((ip) => ip !== '' && ip !== 'None'),
    ports,
  };
}

/** The Service informer and its lookups; onChange runs once per burst of changes that matter. */
export class ServiceIndex {
  readonly informer: k8s.Informer<SlimService> & k8s.ObjectCache<SlimService>;
  readonly #log: Logger;
  readonly #max: number;
  #warnedOverBound = false;
  /** Services in the informer's cache, counted from its events (list() copies the cache). */
  #count = 0;

  constructor(kc: k8s.KubeConfig, log: Logger, onChange: () => void, maxServices = MAX_TRACKED_SERVICES) {
    this.#log = log;
    this.#max = maxServices;
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const admit = (service: SlimService): boolean => {
      if (this.#count < maxServices || this.informer.get(service.metadata.name, service.metadata.namespace) !== undefined) return true;
      if (!this.#warnedOverBound) this.#log.warn({ maxServices }, 'too many Services to track; routes naming the others are not checked against them');
      this.#warnedOverBound = true;
      return false;
    };
    const list = async (): Promise<k8s.KubernetesListObject<SlimService>> => {
      const services = await core.listServiceForAllNamespaces();
      const items = services.items.map((s) => slimService(s as RawService)).filter((s): s is SlimService => s !== undefined);
      if (items.length > maxServices && !this.#warnedOverBound) {
        this.#warnedOverBound = true;
        this.#log.warn({ maxServices, services: items.length }, 'too many Services to track; routes naming the others are not checked against them');
      }
      return { apiVersion: 'v1', kind: 'ServiceList', metadata: services.metadata ?? {}, items: items.slice(0, maxServices) };
    };
    this.informer = new k8s.ListWatch<SlimService>('/api/v1/services', new SlimWatch<RawService, SlimService>(kc, slimService, admit), list, false);
    const changed = oncePerTick(onChange);
    this.informer.on('add', () => (this.#count++, changed()));
    this.informer.on('update', changed);
    this.informer.on('delete', () => (this.#count--, changed()));
  }

  /** The Service, or undefined; `exists` says false only when the index could hold every Service. */
  get(namespace: string, name: string): SlimService | undefined {
    return this.informer.get(name, namespace);
  }

  /** Whether the Service exists: undefined when the index is over its bound and does not hold it. */
  exists(namespace: string, name: string): boolean | undefined {
    if (this.get(namespace, name) !== undefined) return true;
    return this.#count >= this.#max ? undefined : false;
  }

  /** ClusterIP -> Service, for every tracked Service that has one (not headless). */
  clusterIps(): Map<string, { name: string; namespace: string }> {
    const map = new Map<string, { name: string; namespace: string }>();
    for (const s of this.informer.list()) for (const ip of s.clusterIps) map.set(ip, { name: s.metadata.name, namespace: s.metadata.namespace });
    return map;
  }
}
