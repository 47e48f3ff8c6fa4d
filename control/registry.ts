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

/** One port of a Service with several: the endpoints behind it (Kubernetes: pod address and target port). */
export interface ServicePortRecord {
  port: number;
  name?: string;
  appProtocol?: string;
  endpoints: EndpointRecord[];
}

export interface ServiceRecord {
  name: string;
  namespace: string;
  /** The endpoints of the Service's first port (every endpoint, for a Service with one port). */
  endpoints: EndpointRecord[];
  /**
   * Every port in the Service's order, the first being the one `endpoints` serves; absent: one port,
   * DEFAULT_SERVICE_PORT (80), which is what a local Service has unless its sidecars say otherwise.
   */
  ports?: ServicePortRecord[];
  /** spec.clusterIPs: addresses that reach the Service besides its names. */
  clusterIps?: string[];
}

/** The port a sidecar registers for unless it says otherwise (`petrel sidecar --service-port`). */
export const DEFAULT_SERVICE_PORT = 80;

interface Held {
  record: EndpointRecord;
  holders: number;
  dropTimer: NodeJS.Timeout | undefined;
}

/** Default time a vanished sidecar's endpoint stays registered. */
export const DEFAULT_REGISTRATION_GRACE_MS = 3000;

export class Registry extends EventEmitter {
  /** Keyed "name.namespace" for port 80 (what every local Service had before ports), "name.namespace:port" otherwise. */
  readonly #services = new Map<string, { name: string; namespace: string; port: number; endpoints: Map<string, Held> }>();
  readonly #graceMs: number;

  constructor(graceMs = DEFAULT_REGISTRATION_GRACE_MS) {
    super();
    this.#graceMs = graceMs;
  }

  /**
   * Registers an endpoint; the returned function releases it: after the grace period (a stream that
   * broke may come back), or `immediately` when the sidecar deregistered (it is going away, and
   * callers must stop picking it now, whoever else still holds the address). `identity` is the SPIFFE
   * identity the sidecar's certificate names (absent when the control plane issues none). `port` is
   * the Service port the endpoint serves (the sidecar's --service-port).
   */
  register(service: string, namespace: string, address: string, name: string, identity?: string, port = DEFAULT_SERVICE_PORT): (immediately?: boolean) => void {
    const id = port === DEFAULT_SERVICE_PORT ? `${service}.${namespace}` : `${service}.${namespace}:${port}`;
    let entry = this.#services.get(id);
    if (entry === undefined) this.#services.set(id, (entry = { name: service, namespace, port, endpoints: new Map() }));
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

  /**
   * Every service with its endpoints, sorted, so that compiled snapshots are deterministic. A source's
   * ports are taken as they are (the first source that gives a Service ports decides them); local
   * registrations on several ports make a Service with those ports, in port order.
   */
  services(): ServiceRecord[] {
    interface Merged { name: string; namespace: string; ports: Map<number, { meta: Omit<ServicePortRecord, 'endpoints'>; endpoints: Map<string, EndpointRecord> }>; order: number[] | undefined; clusterIps: string[] | undefined }
    const merged = new Map<string, Merged>();
    const entryOf = (name: string, namespace: string): Merged => {
      const id = `${name}.${namespace}`;
      let entry = merged.get(id);
      if (entry === undefined) merged.set(id, (entry = { name, namespace, ports: new Map(), order: undefined, clusterIps: undefined }));
      return entry;
    };
    const add = (entry: Merged, meta: Omit<ServicePortRecord, 'endpoints'>, endpoints: Iterable<EndpointRecord>) => {
      let port = entry.ports.get(meta.port);
      if (port === undefined) entry.ports.set(meta.port, (port = { meta, endpoints: new Map() }));
      for (const e of endpoints) if (!port.endpoints.has(e.address)) port.endpoints.set(e.address, e);
    };
    for (const s of this.#services.values()) add(entryOf(s.name, s.namespace), { port: s.port }, [...s.endpoints.values()].map((h) => h.record));
    for (const list of this.#external.values()) {
      for (const s of list) {
        const entry = entryOf(s.name, s.namespace);
        if (s.ports === undefined) add(entry, { port: DEFAULT_SERVICE_PORT }, s.endpoints);
        else {
          entry.order ??= s.ports.map((p) => p.port);
          for (const { endpoints, ...meta } of s.ports) add(entry, meta, endpoints);
        }
        if (s.clusterIps?.length) entry.clusterIps ??= [...s.clusterIps];
      }
    }
    const sorted = (endpoints: Map<string, EndpointRecord>) => [...endpoints.values()].sort((a, b) => a.address.localeCompare(b.address));
    return [...merged.values()]
      .map((s): ServiceRecord => {
        const order = s.order ?? [...s.ports.keys()].sort((a, b) => a - b);
        for (const port of [...s.ports.keys()].sort((a, b) => a - b)) if (!order.includes(port)) order.push(port);
        const ports = order.map((port) => {
          const p = s.ports.get(port);
          return { ...(p?.meta ?? { port }), endpoints: p === undefined ? [] : sorted(p.endpoints) };
        });
        const only = ports.length === 1 && ports[0]!.port === DEFAULT_SERVICE_PORT && ports[0]!.name === undefined && ports[0]!.appProtocol === undefined;
        return {
          name: s.name, namespace: s.namespace, endpoints: ports[0]?.endpoints ?? [],
          ...(only ? {} : { ports }),
          ...(s.clusterIps === undefined ? {} : { clusterIps: s.clusterIps }),
        };
      })
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  }
}
