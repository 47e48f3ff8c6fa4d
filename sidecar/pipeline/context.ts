// What every step of the request path may need from the running sidecar.
import type { Logger } from 'pino';
import type { SelfIdentity } from '../config/compile.ts';
import type { ConfigStore } from '../config/config-store.ts';
import type { SidecarMetrics } from '../telemetry/metrics.ts';
import type { PoolRegistry } from '../upstream/pool-registry.ts';
import type { Clock, Random } from '../policy/clock.ts';
import type { AccessLog } from '../telemetry/access-log.ts';
import type { Tracing } from '../telemetry/tracing.ts';

export interface ProxyContext {
  readonly self: SelfIdentity;
  readonly store: ConfigStore;
  readonly pools: PoolRegistry;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  /** The local app behind the inbound listener, host:port; undefined when there is none. */
  readonly app: string | undefined;
  /** The outbound listener's own port, to refuse passthrough loops back into it. */
  readonly outboundPort: number;
  /** True once the sidecar is draining: responses close their connections. */
  readonly draining: () => boolean;
  readonly clock: Clock;
  readonly random: Random;
  readonly accessLog: AccessLog;
  /** Set at start when tracing is on (an OTLP endpoint is configured); undefined otherwise. */
  tracing: Tracing | undefined;
}
