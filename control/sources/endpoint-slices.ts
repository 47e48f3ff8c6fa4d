// EndpointSlices -> mesh services, per Service port. Kubernetes names each slice port after the
// Service port it backs (an unnamed port, the only one a Service may leave unnamed, is ""), and the
// slice port's number is the target port on the pods, which differs from slice to slice when the
// Service's targetPort names a container port. So a Service port's endpoints are, over the Service's
// slices, each ready address with the port of the slice port of the same name.
import type * as k8s from '@kubernetes/client-node';
import type { EndpointRecord, ServicePortRecord, ServiceRecord } from '../registry.ts';
import type { ServicePort, SlimService } from './services.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export type EndpointIdentity = (endpoint: k8s.V1Endpoint, sliceNamespace: string) => string | undefined;
export type ServiceLookup = (namespace: string, name: string) => SlimService | undefined;

/**
 * Ready endpoints of every Service that has slices, each with the identity its sidecar presents when
 * `identity` knows it. With the Service known (`service`), one entry per Service port in its order,
 * `endpoints` being the first port's, and its ClusterIPs; without (the Service informer has not seen
 * it yet, or it is over its bound), every endpoint on its slice's first port, as one port. The
 * Services of `withoutSlices` that have a ClusterIP and no slice are listed too, with their ports and
 * no endpoints: routes attach to a Service's ports whether or not its pods are up yet. One without a
 * ClusterIP (ExternalName, or headless with no slice) is left out: calls to it pass through as before.
 */
export function servicesFromSlices(slices: readonly k8s.V1EndpointSlice[], identity: EndpointIdentity = () => undefined, service: ServiceLookup = () => undefined, withoutSlices: Iterable<SlimService> = []): ServiceRecord[] {
  const byService = new Map<string, { name: string; namespace: string; slices: k8s.V1EndpointSlice[] }>();
  for (const slice of slices) {
    const name = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    const namespace = slice.metadata?.namespace ?? 'default';
    if (name === undefined) continue;
    const id = `${name}.${namespace}`;
    let entry = byService.get(id);
    if (entry === undefined) byService.set(id, (entry = { name, namespace, slices: [] }));
    entry.slices.push(slice);
  }
  const out: ServiceRecord[] = [];
  for (const { name, namespace, slices: own } of byService.values()) {
    const known = service(namespace, name);
    if (known === undefined || known.ports.length === 0) {
      out.push({ name, namespace, endpoints: own.flatMap((s) => endpointsOf(s, s.ports?.[0]?.port ?? 80, identity, namespace)) });
      continue;
    }
    const ports: ServicePortRecord[] = known.ports.map((p) => {
      const endpoints: EndpointRecord[] = [];
      for (const slice of own) {
        const match = slice.ports?.find((sp) => (sp.name ?? '') === (p.name ?? ''));
        if (match?.port !== undefined) endpoints.push(...endpointsOf(slice, match.port, identity, namespace));
      }
      return portRecord(p, endpoints);
    });
    out.push({ name, namespace, endpoints: ports[0]?.endpoints ?? [], ports, ...(known.clusterIps.length ? { clusterIps: [...known.clusterIps] } : {}) });
  }
  for (const s of withoutSlices) {
    if (s.ports.length === 0 || s.clusterIps.length === 0 || byService.has(`${s.metadata.name}.${s.metadata.namespace}`)) continue;
    const ports = s.ports.map((p) => portRecord(p, []));
    out.push({ name: s.metadata.name, namespace: s.metadata.namespace, endpoints: [], ports, ...(s.clusterIps.length ? { clusterIps: [...s.clusterIps] } : {}) });
  }
  return out;
}

const portRecord = (p: ServicePort, endpoints: EndpointRecord[]): ServicePortRecord =>
  ({ port: p.port, ...(p.name === undefined ? {} : { name: p.name }), ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }), endpoints });

function endpointsOf(slice: k8s.V1EndpointSlice, port: number, identity: EndpointIdentity, namespace: string): EndpointRecord[] {
  const out: EndpointRecord[] = [];
  for (const endpoint of slice.endpoints ?? []) {
    if (endpoint.conditions?.ready === false) continue;
    const endpointIdentity = identity(endpoint, namespace);
    for (const address of endpoint.addresses) {
      const host = address.includes(':') ? `[${address}]` : address;
      out.push({ address: `${host}:${port}`, name: endpoint.targetRef?.name ?? address, ...(endpointIdentity === undefined ? {} : { identity: endpointIdentity }) });
    }
  }
  return out;
}
