// What the request path needs from the running sidecar: the chain's environment plus routing.
import type { SelfIdentity } from '../config/compile.ts';
import type { ConfigStore } from '../config/config-store.ts';
import type { ChainEnvironment } from '../chain/step.ts';
import type { SidecarMetrics } from '../telemetry/metrics.ts';
import type { PoolRegistry } from '../upstream/pool-registry.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import type { SelfAddresses } from '../routing/self-address.ts';
import type { Tap } from '../telemetry/tap.ts';

export interface ProxyContext extends ChainEnvironment {
  readonly self: SelfIdentity;
  readonly store: ConfigStore;
  readonly pools: PoolRegistry;
  readonly metrics: SidecarMetrics;
  /** The local app behind the inbound listener, host:port; undefined when there is none. */
  readonly app: string | undefined;
  /** This sidecar's own listeners, however their addresses are spelled: never a destination. */
  readonly selfAddresses: SelfAddresses;
  readonly accessLog: AccessLog;
  /** `petrel tap`: `tap.active` is the request path's one check while nobody taps. */
  readonly tap: Tap;
}
