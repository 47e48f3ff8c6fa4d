// The balancer contract: pick one endpoint for an attempt, skipping endpoints whose circuit is
// open. Balancers are built once per snapshot.
import type { Endpoint } from '../upstream/endpoint.ts';

export interface Balancer {
  /** An available endpoint, not `avoid` when another is available; undefined when none is. */
  pick(avoid?: Endpoint): Endpoint | undefined;
  /** Any endpoint, breakers ignored (panic: too few are available); undefined only when there are none. */
  pickAny(avoid?: Endpoint): Endpoint | undefined;
}
