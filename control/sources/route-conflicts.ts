// GEP-1294 ("Route types") as route status says it: when an HTTPRoute and a GRPCRoute bind to the
// same Service and port, the GRPCRoute applies and the HTTPRoute's entry for that parent is Accepted
// False with reason Conflicted. The routing compiler (control/routing/compile.ts) leaves the same
// HTTPRoutes out of the same Services and ports; this tells the route's owner why.
import type { HttpRouteParentRef } from '../../api/types.ts';
import type { StoredGrpcRoute } from '../policy.ts';

interface Claim { route: string; port: number | undefined }

/** The GRPCRoutes in force, by the Service parents they attach to. */
export class RouteConflicts {
  /** "namespace/service" -> the GRPCRoutes attached, each with its parentRef's port (undefined: every port). */
  readonly #claims = new Map<string, Claim[]>();

  constructor(grpcRoutes: readonly Pick<StoredGrpcRoute, 'key' | 'namespace' | 'spec'>[]) {
    for (const route of grpcRoutes) {
      for (const ref of route.spec.parentRefs ?? []) {
        // Only what attaches: a Service in the route's own namespace (consumer routes do not attach).
        if (ref.group !== '' || ref.kind !== 'Service' || (ref.namespace ?? route.namespace) !== route.namespace) continue;
        const key = `${route.namespace}/${ref.name}`;
        let claims = this.#claims.get(key);
        if (claims === undefined) this.#claims.set(key, (claims = []));
        claims.push({ route: route.key, port: ref.port });
      }
    }
  }

  /**
   * For an HTTPRoute in `namespace`: the Conflicted message of one of its parentRefs, or undefined.
   * Ports overlap when they are equal or either parentRef names none (it takes every port).
   */
  conflictWith(namespace: string): (parent: HttpRouteParentRef) => string | undefined {
    return (parent) => {
      const parentNamespace = parent.namespace ?? namespace;
      if (parentNamespace !== namespace) return undefined;
      const claim = this.#claims.get(`${parentNamespace}/${parent.name}`)?.find((c) => c.port === undefined || parent.port === undefined || c.port === parent.port);
      if (claim === undefined) return undefined;
      const port = claim.port ?? parent.port;
      return `GRPCRoute ${claim.route} binds Service ${parentNamespace}/${parent.name}${port === undefined ? '' : ` port ${port}`} too: a Service and port is routed by one route type, GRPCRoute first (GEP-1294); this HTTPRoute does not apply there`;
    };
  }
}
