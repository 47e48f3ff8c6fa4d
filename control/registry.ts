// Endpoints of mesh services. Locally, every sidecar registers its own inbound address for its
// service when it subscribes; the address is dropped when its stream has been gone for a grace
// period (a quick reconnect keeps it). In Kubernetes, EndpointSlices fill the same registry.
import { EventEmitter } from 'node:events';

export interface EndpointRecord {
  address: string;
  name: string;
  /** The SPIFFE identity its sidecar presents (mTLS); undefined when unknown (plaintext). */
  identity?: string;
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

  /**
   * Registers an endpoint; the returned function releases it: after the grace period (a stream that
   * broke may come back), or `immediately` when the sidecar deregistered (it is going away, and
   * callers must stop picking it now, whoever else still holds the address). `identity` is the SPIFFE
   * identity the sidecar's certificate names (absent when the control plane issues none).
   */
  register(service: string, namespace: string, address: string, name: string, identity?: string): (immediately?: boolean) => void {
    const id = `${service}.${namespace}`;
    let entry = this.#services.get(id);
    if (entry === undefined) this.#services.set(id, (entry = { name: service, namespace, endpoints: new Map() }));
    const service_ = entry;
    const endpoints = entry.endpoints;
    let held = endpoints.get(address);
    let changed = false;
    const record: EndpointRecord = identity === undefined ? { address, name } : { address, name, identity };
    if (held === undefined) {
      endpoints.set(address, (held = { record, holders: 0, dropTimer: undefined }));
      changed = true;
    } else if (held.record.identity !== identity) {
      // The address now belongs to another workload (a restarted pod, a reused port): callers must
      // expect the new identity, or mTLS to it fails.
      held.record = record;
      changed = true;
    }
    if (held.dropTimer) clearTimeout(held.dropTimer);
    held.dropTimer = undefined;
    held.holders++;
    if (changed) this.emit('change');
    const h = held;
    const drop = () => {
      if (h.dropTimer) clearTimeout(h.dropTimer);
      if (endpoints.get(address) !== h) return;
      endpoints.delete(address);
      if (endpoints.size === 0 && this.#services.get(id) === service_) this.#services.delete(id);
      this.emit('change');
    };
    let released = false;
    return (immediately = false) => {
      if (released) return;
      released = true;
      if (endpoints.get(address) !== h) return; // dropped already
      if (immediately) return drop();
      if (--h.holders > 0) return;
      h.dropTimer = setTimeout(drop, this.#graceMs);
      h.dropTimer.unref();
    };
  }

  readonly #external = new Map<string, readonly ServiceRecord[]>();

  /** Replaces everything a source (Kubernetes EndpointSlices) says about endpoints. */
  setExternal(source: string, services: readonly ServiceRecord[]): void {
    const before = JSON.stringify(this.#external.get(source) ?? []);
    this.#external.set(source, services);
    if (JSON.stringify(services) !== before) this.emit('change');
  }

  /** Every service with its endpoints, sorted, so that compiled snapshots are deterministic. */
  services(): ServiceRecord[] {
    const merged = new Map<string, { name: string; namespace: string; endpoints: Map<string, EndpointRecord> }>();
    const add = (name: string, namespace: string, endpoints: Iterable<EndpointRecord>) => {
      const id = `${name}.${namespace}`;
      let entry = merged.get(id);
      if (entry === undefined) merged.set(id, (entry = { name, namespace, endpoints: new Map() }));
      for (const e of endpoints) if (!entry.endpoints.has(e.address)) entry.endpoints.set(e.address, e);
    };
    for (const s of this.#services.values()) add(s.name, s.namespace, [...s.endpoints.values()].map((h) => h.record));
    for (const list of this.#external.values()) for (const s of list) add(s.name, s.namespace, s.endpoints);
    return [...merged.values()]
      .map((s) => ({ name: s.name, namespace: s.namespace, endpoints: [...s.endpoints.values()].sort((a, b) => a.address.localeCompare(b.address)) }))
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }
}
