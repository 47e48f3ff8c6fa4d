// A Service's `ports` in the snapshot (ServicePortSpec): written only for a Service with several
// ports, so that a one-port Service's snapshot is what it was before ports existed, and in the
// Service's port order with a fixed key order (the snapshot is content-hashed).
import type { EndpointSpec, RoutingSpec, ServicePortSpec } from '../../api/types.ts';
import type { EndpointRecord, ServiceRecord } from '../registry.ts';

export const endpointSpec = (e: EndpointRecord): EndpointSpec => ({ address: e.address, name: e.name, ...(e.identity === undefined ? {} : { identity: e.identity }) });

/** Each port's endpoints and routing, or undefined for a Service with one port. */
export function servicePortsSpec(service: ServiceRecord, routing: ReadonlyMap<number, RoutingSpec> | undefined): ServicePortSpec[] | undefined {
  if (service.ports === undefined || service.ports.length < 2) return undefined;
  return service.ports.map((p) => {
    const spec = routing?.get(p.port);
    return {
      port: p.port,
      ...(p.name === undefined ? {} : { name: p.name }),
      ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }),
      endpoints: p.endpoints.map(endpointSpec),
      ...(spec === undefined ? {} : { routing: spec }),
    };
  });
}
