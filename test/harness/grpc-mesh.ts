// The mesh the gRPC tests drive: grpc-js apps behind real callee sidecars (--app: the inbound sidecar
// speaks h2c to them), and one caller sidecar ("web") whose snapshot names one mesh service per
// policy under test, every one of them backed by the callee sidecars' inbound listeners. A grpc-js
// client reaches a service with target 127.0.0.1:<web outbound port> and :authority = its name.
import { startGrpcApp, type GrpcApp } from './grpc-app.ts';
import { EchoClient } from './grpc-client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './processes.ts';

export const GRPC_PATH_PREFIX = '/petrel.test.Echo/';
const fast = { backoff: { strategy: 'fixed', base: '1ms', max: '1ms' }, budget: { ratio: 1, minPerSecond: 1000 } };

/** The services of the caller's snapshot: name -> which callees back it, and its policy. */
export const SERVICES = {
  /** No policy: plain forwarding, deadlines, local replies. */
  echo: { callees: [0], policy: undefined },
  'echo-retry': { callees: [0], policy: { retry: { attempts: 3, on: ['unavailable'], ...fast } } },
  /** A route over the Unary method only, with a total timeout. */
  'echo-timeout': { callees: [0], policy: { routes: [{ name: 'unary', match: { pathPrefix: `${GRPC_PATH_PREFIX}Unary` }, timeout: { total: '150ms' } }] } },
  /** One stream at a time, none queued: a stream left open after a cancel would refuse the next call. */
  'echo-one': { callees: [0], policy: { concurrency: { maxRequests: 1, maxPending: 0 } } },
  'echo-limited': { callees: [0], policy: { rateLimit: { requestsPerSecond: 1, burst: 1 } } },
  'echo-metrics': { callees: [0], policy: undefined },
  'echo-spread': { callees: [0, 1, 2], policy: { loadBalancer: { policy: 'round-robin' } } },
  /** Its app closes every connection after 200 ms (GOAWAY, grpc.max_connection_age_ms). */
  'echo-aging': { callees: [3], policy: undefined },
} as const;
export type ServiceName = keyof typeof SERVICES;

export interface GrpcMesh {
  /** apps[0..2]: plain; apps[3]: the aging one. */
  readonly apps: GrpcApp[];
  readonly callees: SidecarHandle[];
  readonly caller: SidecarHandle;
  /** A client (one channel) to `service` through the caller sidecar; closed by stop(). */
  client(service: ServiceName | string): EchoClient;
  stop(): Promise<void>;
}

export async function startGrpcMesh(): Promise<GrpcMesh> {
  const apps: GrpcApp[] = [];
  const sidecars: SidecarHandle[] = [];
  const clients: EchoClient[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.close();
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    await Promise.all(apps.map((a) => a.close()));
  };
  try {
    apps.push(...await Promise.all([
      startGrpcApp(), startGrpcApp(), startGrpcApp(),
      startGrpcApp({ options: { 'grpc.max_connection_age_ms': 200, 'grpc.max_connection_age_grace_ms': 2000 } }),
    ]));
    const callees = await Promise.all(apps.map(async (app) => {
      const sidecar = await startSidecar({ service: 'echo', app: app.address, config: snapshot(1, []), args: ['--access-log', 'off'] });
      sidecars.push(sidecar);
      return sidecar;
    }));
    const caller = await startSidecar({
      service: 'web',
      args: ['--access-log', 'off'],
      config: snapshot(1, Object.entries(SERVICES).map(([name, s]) => ({
        name,
        endpoints: s.callees.map((i) => `127.0.0.1:${callees[i]!.inboundPort}`),
        ...(s.policy === undefined ? {} : { policy: s.policy }),
      })), { outbound: { passthrough: false } }),
    });
    sidecars.push(caller);
    return {
      apps, callees, caller, stop,
      client(service) {
        const client = new EchoClient(`127.0.0.1:${caller.outboundPort}`, { authority: service });
        clients.push(client);
        return client;
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Samples the sidecars' RSS every 10 ms until stopped; returns each one's largest growth in MB. */
export function watchRss(sidecars: SidecarHandle[]): { stop(): number[] } {
  const base = sidecars.map((s) => s.rssKb());
  const peak = [...base];
  const sample = (): void => sidecars.forEach((s, i) => { peak[i] = Math.max(peak[i]!, s.rssKb()); });
  const timer = setInterval(sample, 10);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak.map((p, i) => Math.round((p - base[i]!) / 1024));
    },
  };
}
