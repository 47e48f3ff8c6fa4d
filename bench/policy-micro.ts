// What each policy step costs per request, measured in-process on the real policy objects: the
// loopback numbers of run.ts carry ±10% noise on this VM, far more than these costs.
import { compileSnapshot } from '../sidecar/config/compile.ts';
import { matchRoute } from '../sidecar/config/compiled.ts';
import { systemClock, systemRandom } from '../sidecar/policy/clock.ts';
import { SidecarMetrics } from '../sidecar/telemetry/metrics.ts';
import { EndpointStateRegistry } from '../sidecar/upstream/endpoint-state.ts';
import { PoolRegistry } from '../sidecar/upstream/pool-registry.ts';
import { upstreamHeaders } from '../sidecar/proxy/headers.ts';
import { PolicyStateRegistry } from '../sidecar/policy/policy-state.ts';
import { pino } from 'pino';
import type { Snapshot } from '../api/types.ts';

const N = 1_000_000;

function nsPerOp(name: string, op: () => void): [string, number] {
  for (let i = 0; i < 50_000; i++) op(); // warm-up
  const start = process.cpuUsage();
  for (let i = 0; i < N; i++) op();
  const used = process.cpuUsage(start);
  return [name, ((used.user + used.system) * 1000) / N];
}

export function policyMicrobench(): [string, number][] {
  const pools = new PoolRegistry();
  const metrics = new SidecarMetrics(() => 0);
  const snapshot: Snapshot = {
    apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1,
    services: [{
      name: 'svc', namespace: 'default', endpoints: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2' }, { address: '127.0.0.1:3' }],
      policy: {
        timeout: { total: '5s' }, retry: { attempts: 3 }, rateLimit: { requestsPerSecond: 1e9, burst: 1e9 },
        circuitBreaker: { consecutiveFailures: 5, failureRate: { threshold: 0.5, window: '10s', minRequests: 20 } },
        routes: [{ name: 'a', match: { pathPrefix: '/a' } }, { name: 'b', match: { pathPrefix: '/b', methods: ['POST'] } }],
      },
    }],
  };
  const compiled = compileSnapshot(snapshot, {
    self: { service: 'bench', namespace: 'default' }, app: undefined, pools, metrics, policyStates: new PolicyStateRegistry(),
    env: { clock: systemClock, random: systemRandom, log: pino({ level: 'silent' }), draining: () => false, tracing: undefined },
    endpointStates: new EndpointStateRegistry(systemClock, systemRandom, { onCreated() {}, onTransition() {} }),
  });
  const service = compiled.services[0]!;
  const route = service.defaultRoute;
  const endpoint = service.endpoints[0]!;
  const raw = ['Host', 'svc', 'User-Agent', 'wrk', 'Accept', '*/*', 'Connection', 'keep-alive'];
  const rows: [string, number][] = [
    nsPerOp('header hygiene + x-request-id (every request)', () => upstreamHeaders(raw, '127.0.0.1')),
    nsPerOp('route match (2 routes, falls to default)', () => matchRoute(service, 'GET', '/z?q=1')),
    nsPerOp('rate limit: token bucket take', () => service.rateLimit!.tryTake()),
    nsPerOp('concurrency: acquire + release', () => { service.concurrency.acquire({ granted() {} }); service.concurrency.release(); }),
    nsPerOp('retry budget: count the request', () => route.retry.budget.recordRequest()),
    nsPerOp('balancer: peak-EWMA P2C pick', () => service.balancer.pick()),
    nsPerOp('circuit breaker: acquire + success', () => { endpoint.breaker!.acquire(); endpoint.breaker!.onSuccess(); }),
    nsPerOp('total timeout: set + clear a timer', () => clearTimeout(setTimeout(() => {}, 5000))),
    nsPerOp('metrics: record one request', () => route.metrics.record('GET', 200, '-', 0.001)),
  ];
  pools.destroy();
  return rows;
}

if (process.argv[1] === import.meta.filename) {
  for (const [name, ns] of policyMicrobench()) process.stdout.write(`${ns.toFixed(0).padStart(6)} ns  ${name}\n`);
}
