// Where an outbound request or connection goes: a mesh service (by the address iptables redirected
// it from when that is a ClusterIP or a pod's, else by Host), a passthrough destination outside the
// mesh, or nowhere. One function serves plain requests, Upgrades, CONNECT and opaque TCP alike, so
// every entry point refuses the same things: passthrough when it is off, and any destination that is this
// sidecar's own listener, however its address is spelled.
import { onPort, type CompiledSnapshot, type ServiceTarget } from '../config/compiled.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';
import { ProxyError } from '../proxy/flags.ts';
import { canonicalIp, type SelfAddresses } from './self-address.ts';

/** A destination outside the mesh: where to dial, and how to name it. */
export interface PassthroughDestination {
  readonly kind: 'passthrough';
  /** The host to dial: the canonical IP when the client named an address, else the name. */
  readonly host: string;
  readonly port: number;
  /** host:port, IPv6 in brackets. */
  readonly address: string;
}

export interface OutboundQuery {
  /** Lower-case host the request names (Host, the absolute-form authority, or CONNECT's). */
  readonly host: string;
  readonly port: number | undefined;
  /** Where iptables redirected the connection from, when it did. */
  readonly redirectedFrom: OriginalDestination | undefined;
}

export function resolveOutbound(
  snapshot: CompiledSnapshot, query: OutboundQuery, self: SelfAddresses,
): ServiceTarget | PassthroughDestination | ProxyError {
  const redirected = query.redirectedFrom;
  if (redirected !== undefined) {
    // A connection iptables redirected goes where the app dialled, whatever its Host says (as in
    // Linkerd, and as GAMMA's MeshClusterIPMatching asks): a ClusterIP is its Service on that port, a
    // pod's address is that pod alone (with its Service's policy and none of its routes).
    const byIp = snapshot.hosts.get(redirected.host);
    if (byIp !== undefined) return onPort(byIp, redirected.port);
    const pinned = snapshot.pinned(redirected.address.toLowerCase());
    if (pinned !== undefined) return pinned;
  }
  // A service with several ports: the port the call names picks its endpoints and routing (a Host
  // without a port means 80, as in HTTP).
  const byHost = snapshot.hosts.get(query.host);
  if (byHost !== undefined) return onPort(byHost, query.port ?? redirected?.port ?? 80);
  const host = redirected?.host ?? query.host;
  const port = redirected?.port ?? query.port ?? 80;
  if (self.isSelf(host, port)) {
    return new ProxyError('NR', `refusing to forward to this sidecar's own listener (${host}:${port})`);
  }
  if (!snapshot.passthrough) return new ProxyError('NR', `${query.host} is not a mesh service and passthrough is off`);
  const dial = canonicalIp(host) ?? host;
  return { kind: 'passthrough', host: dial, port, address: `${dial.includes(':') ? `[${dial}]` : dial}:${port}` };
}
