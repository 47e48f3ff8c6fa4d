// Where one attempt goes: a dispatcher (an endpoint's pool, or the passthrough agent with an
// origin), the address for raw tunnels (Upgrade), and the label that names it in errors and logs.
import type { Dispatcher } from 'undici';
import type { Endpoint } from './endpoint.ts';

export interface Destination {
  readonly dispatcher: Dispatcher;
  /** Required for an Agent (passthrough); pools know their origin. */
  readonly origin?: string;
  /** Host and port to dial for a tunnel, which bypasses the pool. */
  readonly host: string;
  readonly port: number;
  /** The mesh endpoint, whose load and breaker the attempt updates; undefined outside the mesh. */
  readonly endpoint?: Endpoint;
  readonly label: string;
  /** Chosen in panic (breakers overruled): a success closes the endpoint's open breaker. */
  readonly panic?: boolean;
}
