// Endpoints of mesh services. Locally, every sidecar registers its own inbound address for its
// service when it subscribes; the address is dropped when its stream has been gone for a grace
// period (a quick reconnect keeps it). In Kubernetes, EndpointSlices fill the same registry.
import { EventEmitter } from 'node:events';

export interface EndpointRecord {
  address: string;
  name: string;
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  endpoints: EndpointRecord[];
}

interface Held {
  record: EndpointRecord;
  holders: number;
  dropTimer: NodeJS.Timeout | undefined;
}

/** Default time a vanished sidecar's endpoint stays registered. */
export const DEFAULT_REGISTRATION_GRACE_MS = 3000;

export class Registry extends EventEmitter {
  readonly #services = new Map<string, { name: string; namespace: string; endpoints: Map<string, Held> }>();
  readonly #graceMs: number;

  constructor(graceMs = DEFAULT_REGISTRATION_GRACE_MS) {
    super();
    this.#graceMs = graceMs;
  }

  /** Registers an endpoint; the returned function releases it (after the grace period). */
  register(service: string, namespace: string, address: string, name: string): () => void {
    const id = `${service}.${namespace}`;
    let entry = this.#services.get(id);
    if (entry === undefined) this.#services.set(id, (entry = { name: service, namespace, endpoints: new Map() }));
    const endpoints = entry.endpoints;
    let held = endpoints.get(address);
    let changed = false;
    if (held === undefined) {
      endpoints.set(address, (held = { record: { address, name }, holders: 0, dropTimer: undefined }));
      changed = true;
    }
    if (held.dropTimer) clearTimeout(held.dropTimer);
    held.dropTimer = undefined;
    held.holders++;
    if (changed) this.emit('change');
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const h = held as Held;
      if (--h.holders > 0) return;
      h.dropTimer = setTimeout(() => {
        endpoints.delete(address);
        if (endpoints.size === 0) this.#services.delete(id);
        this.emit('change');
      }, this.#graceMs);
      h.dropTimer.unref();
    };
  }

  /** Every service with its endpoints, sorted, so that compiled snapshots are deterministic. */
  services(): ServiceRecord[] {
    return [...this.#services.values()]
      .map((s) => ({ name: s.name, namespace: s.namespace, endpoints: [...s.endpoints.values()].map((h) => h.record).sort((a, b) => a.address.localeCompare(b.address)) }))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }
}
