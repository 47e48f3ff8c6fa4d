// gRPC unary load: N calls kept in flight over one channel (or spread over several), for a fixed
// duration. Prints one JSON line: calls, seconds, calls/s, p50/p99 latency (ms), failures by status.
// Bounded in time (a run ends at most --grace-ms after --seconds: whatever is still in flight is
// cancelled and counted as failed) and in failures (it stops after --max-failures).
// Usage: node grpc-load.js --target 127.0.0.1:PORT [--authority NAME] [--concurrency 64]
//          [--channels 1] [--seconds 10] [--deadline-ms 0] [--max-failures 1000] [--payload 16]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Client, credentials, type ChannelOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { ECHO_PATH } from './grpc-service.ts';

export interface GrpcLoadResult {
  calls: number; seconds: number; cps: number; p50ms: number; p99ms: number;
  failures: number; byStatus: Record<string, number>; firstError: string; stoppedEarly: boolean;
}

/** Latencies at 1 µs resolution up to 100 ms (fixed memory, whatever the call count), slower ones kept aside. */
class Histogram {
  readonly #buckets = new Uint32Array(100_000);
  readonly #slow: number[] = [];
  count = 0;

  record(ms: number): void {
    this.count++;
    const us = Math.round(ms * 1000);
    if (us < this.#buckets.length) this.#buckets[us] = (this.#buckets[us] as number) + 1;
    else if (this.#slow.length < 1_000_000) this.#slow.push(ms);
  }

  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil(q * this.count);
    let seen = 0;
    for (let us = 0; us < this.#buckets.length; us++) {
      seen += this.#buckets[us] as number;
      if (seen >= rank) return us / 1000;
    }
    const slow = [...this.#slow].sort((a, b) => a - b);
    return slow[Math.min(slow.length - 1, rank - seen - 1)] ?? Number.NaN;
  }
}

export interface GrpcLoadOptions {
  target: string; authority?: string; concurrency: number; channels: number; seconds: number;
  deadlineMs: number; maxFailures: number; payload: number; graceMs: number;
}

export async function grpcLoad(o: GrpcLoadOptions): Promise<GrpcLoadResult> {
  const channelOptions: ChannelOptions = {
    ...(o.authority ? { 'grpc.default_authority': o.authority } : {}),
    // Separate channels share one connection unless each keeps its own subchannel pool.
    ...(o.channels > 1 ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
    // The load generator's own CPU bounds what it can offer: no transparent-retry buffering, no channelz counters.
    'grpc.enable_retries': 0, 'grpc.enable_channelz': 0,
  };
  const clients = Array.from({ length: o.channels }, () => new Client(o.target, credentials.createInsecure(), channelOptions));
  try {
    await Promise.all(clients.map((c) => new Promise<void>((resolve, reject) => {
      c.waitForReady(Date.now() + 10_000, (err) => (err ? reject(new Error(`${o.target}: not ready: ${err.message}`)) : resolve()));
    })));
    return await drive(o, clients);
  } finally {
    for (const c of clients) c.close();
  }
}

function drive(o: GrpcLoadOptions, clients: Client[]): Promise<GrpcLoadResult> {
  const message = Buffer.alloc(o.payload, 'x');
  const identity = (b: Buffer): Buffer => b;
  const histogram = new Histogram();
  const byStatus: Record<string, number> = {};
  const inFlight = new Set<ClientUnaryCall>();
  let failures = 0;
  let firstError = '';
  let stoppedEarly = false;
  let running = 0;
  const start = performance.now();
  const end = start + o.seconds * 1000;
  let last = start;

  return new Promise((resolve) => {
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(watchdog);
      const seconds = (last - start) / 1000;
      resolve({
        calls: histogram.count, seconds, cps: seconds > 0 ? histogram.count / seconds : 0,
        p50ms: histogram.quantile(0.5), p99ms: histogram.quantile(0.99), failures, byStatus, firstError, stoppedEarly,
      });
    };
    // The time bound: calls still open past the grace period are cancelled (and fail with CANCELLED).
    const watchdog = setTimeout(() => {
      stoppedEarly = true;
      for (const call of [...inFlight]) call.cancel();
      setTimeout(finish, 1000).unref();
    }, o.seconds * 1000 + o.graceMs);

    const call = (client: Client): void => {
      const t0 = performance.now();
      const options = o.deadlineMs > 0 ? { deadline: Date.now() + o.deadlineMs } : {};
      const c = client.makeUnaryRequest(ECHO_PATH, identity, identity, message, options, (err: ServiceError | null) => {
        inFlight.delete(c);
        const t1 = performance.now();
        last = t1;
        if (err) {
          failures++;
          byStatus[err.code] = (byStatus[err.code] ?? 0) + 1;
          if (!firstError) firstError = `${err.code} ${err.details}`;
          if (failures >= o.maxFailures) stoppedEarly = true;
        } else {
          histogram.record(t1 - t0);
        }
        if (t1 < end && !stoppedEarly) call(client);
        else if (--running === 0) finish();
      });
      inFlight.add(c);
    };
    for (let i = 0; i < o.concurrency; i++) {
      running++;
      call(clients[i % clients.length] as Client);
    }
  });
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' }, authority: { type: 'string' }, concurrency: { type: 'string', default: '64' },
      channels: { type: 'string', default: '1' }, seconds: { type: 'string', default: '10' },
      'deadline-ms': { type: 'string', default: '0' }, 'max-failures': { type: 'string', default: '1000' },
      payload: { type: 'string', default: '16' }, 'grace-ms': { type: 'string', default: '5000' },
    },
  });
  if (!values.target) throw new Error('grpc-load: --target HOST:PORT is required');
  const positive = (name: string, text: string, min = 1): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new Error(`grpc-load: --${name} must be a number >= ${min}`);
    return n;
  };
  const result = await grpcLoad({
    target: values.target, authority: values.authority,
    concurrency: positive('concurrency', values.concurrency), channels: positive('channels', values.channels),
    seconds: positive('seconds', values.seconds, 0.1), deadlineMs: positive('deadline-ms', values['deadline-ms'], 0),
    maxFailures: positive('max-failures', values['max-failures']), payload: positive('payload', values.payload, 0),
    graceMs: positive('grace-ms', values['grace-ms'], 0),
  });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
