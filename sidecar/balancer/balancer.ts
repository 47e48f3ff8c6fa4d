// The balancer contract: pick one endpoint for an attempt. Balancers are built once per snapshot.
import type { Endpoint } from '../upstream/endpoint.ts';

export interface Balancer {
  /** An endpoint for the next attempt, avoiding `avoid` when another is available; undefined when none. */
  pick(avoid?: Endpoint): Endpoint | undefined;
}
