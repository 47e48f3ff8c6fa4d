// The control plane's side of `petrel stat`: the latest summary of each sidecar (sent on its
// stream, POST /v1/stats), merged on request for GET /v1/stat. Merging sums counters and per-bucket
// histogram counts across sidecars; quantiles come from the merged buckets (api/stat-summary.ts).
// A service's row takes the inbound numbers (what its own sidecars saw: the truth about the
// service, as Linkerd's stat) when there are any, else its callers' outbound ones; retries are
// the callers' (retries are decided on the outbound side). Route rows are the callers' view, per
// route name.
// Each summary also carries the endpoints the sidecar calls, as it sees them; endpoints() merges them
// per endpoint across callers for `petrel describe` (mergeEndpointViews).
import { STAT_WINDOW_SECONDS, StatAccumulator, type CircuitView, type EndpointView, type ServiceStat, type StatBody, type StatSummary } from '../api/stat-summary.ts';

/** A summary older than this is dropped: its sidecar stopped sending (gone, or cut off). */
export const STAT_MAX_AGE_MS = 15_000;

interface Held {
  summary: StatSummary;
  /** The sidecar's namespace: inbound rows are in it. */
  namespace: string;
  /** Who sent it, as `petrel describe` names a caller: "name (service.namespace)". */
  caller: string;
  receivedAt: number;
}

/** One endpoint as its callers see it, merged (mergeEndpointViews). */
export interface MergedEndpoint {
  address: string;
  name: string;
  /** open when any caller's breaker is open, else half-open when any is, else closed when any caller has a breaker, else none. */
  circuit: CircuitView;
  /** The callers whose breaker for it is open, and half-open. */
  openBy: string[];
  halfOpenBy: string[];
  /** The latency score (peak EWMA, ms): the mean over the callers that reported it, and the highest. */
  ewmaMs: number;
  maxEwmaMs: number;
  /** Requests in flight to it, all callers together. */
  inflight: number;
  /** The callers that reported it. */
  callers: string[];
}

/**
 * Per endpoint (by address) across callers: a breaker is per caller, so the endpoint is open when any
 * caller holds it open (and they are named); latency is the mean of the callers' scores (each caller's
 * EWMA already weighs its own traffic) with the maximum beside it; in flight is the sum.
 */
export function mergeEndpointViews(views: readonly { caller: string; view: EndpointView }[]): MergedEndpoint[] {
  const by = new Map<string, MergedEndpoint & { sum: number; states: Set<CircuitView> }>();
  for (const { caller, view } of views) {
    let m = by.get(view.address);
    if (m === undefined) {
      by.set(view.address, (m = {
        address: view.address, name: view.name, circuit: 'none', openBy: [], halfOpenBy: [], ewmaMs: 0, maxEwmaMs: 0, inflight: 0, callers: [],
        sum: 0, states: new Set(),
      }));
    }
    m.callers.push(caller);
    m.states.add(view.circuit);
    if (view.circuit === 'open') m.openBy.push(caller);
    if (view.circuit === 'half-open') m.halfOpenBy.push(caller);
    m.sum += view.ewmaMs;
    m.maxEwmaMs = Math.max(m.maxEwmaMs, view.ewmaMs);
    m.inflight += view.inflight;
  }
  const order: CircuitView[] = ['open', 'half-open', 'closed', 'none'];
  return [...by.values()]
    .map(({ sum, states, ...m }) => ({
      ...m, circuit: order.find((c) => states.has(c)) ?? 'none', ewmaMs: Math.round((sum / m.callers.length) * 1000) / 1000,
      callers: m.callers.sort(), openBy: m.openBy.sort(), halfOpenBy: m.halfOpenBy.sort(),
    }))
    .sort((a, b) => a.address.localeCompare(b.address));
}

export class StatStore {
  readonly #held = new Map<string, Held>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Keeps the latest summary of subscription `id`; `caller` names the sidecar in `petrel describe`. */
  report(id: string, namespace: string, summary: StatSummary, caller = id): void {
    this.#held.set(id, { summary, namespace, caller, receivedAt: this.#now() });
  }

  /** The endpoints of `service` ("name.namespace") as the callers that reported it see them, merged. */
  endpoints(service: string): MergedEndpoint[] {
    const now = this.#now();
    const views: { caller: string; view: EndpointView }[] = [];
    for (const held of this.#held.values()) {
      if (now - held.receivedAt > STAT_MAX_AGE_MS) continue;
      for (const view of held.summary.endpoints ?? []) if (view.service === service) views.push({ caller: held.caller, view });
    }
    return mergeEndpointViews(views);
  }

  forget(id: string): void {
    this.#held.delete(id);
  }

  /**
   * The fresh summaries, each with the subscription that sent it: the web view's topology needs to
   * know who made an outbound call (the sender's service), which merged() sums away.
   */
  reports(): { id: string; namespace: string; summary: StatSummary }[] {
    const now = this.#now();
    return [...this.#held].filter(([, h]) => now - h.receivedAt <= STAT_MAX_AGE_MS).map(([id, h]) => ({ id, namespace: h.namespace, summary: h.summary }));
  }

  merged(): StatBody {
    const now = this.#now();
    const services = new Map<string, { namespace: string; inbound: StatAccumulator; outbound: StatAccumulator; routes: Map<string, StatAccumulator> }>();
    const entry = (name: string) => {
      let e = services.get(name);
      if (e === undefined) services.set(name, (e = { namespace: '', inbound: new StatAccumulator(), outbound: new StatAccumulator(), routes: new Map() }));
      return e;
    };
    let sidecars = 0;
    for (const [id, held] of this.#held) {
      if (now - held.receivedAt > STAT_MAX_AGE_MS) {
        this.#held.delete(id);
        continue;
      }
      sidecars++;
      const { windowSeconds, series } = held.summary;
      for (const s of series) {
        const e = entry(s.service);
        if (s.direction === 'inbound') {
          e.namespace = held.namespace;
          e.inbound.add(s, windowSeconds);
          continue;
        }
        e.outbound.add(s, windowSeconds);
        let route = e.routes.get(s.route);
        if (route === undefined) e.routes.set(s.route, (route = new StatAccumulator()));
        route.add(s, windowSeconds);
      }
    }
    const rows: ServiceStat[] = [];
    for (const [service, e] of services) {
      const source = e.inbound.requests > 0 ? 'inbound' : 'outbound';
      const row = (source === 'inbound' ? e.inbound : e.outbound).row();
      // Retries: the callers', plus any the service's own sidecars made toward its app.
      row.retriesPerSecond = Math.round((e.outbound.retriesPerSecond + e.inbound.retriesPerSecond) * 100) / 100;
      rows.push({
        service, namespace: e.namespace, source, ...row,
        routes: [...e.routes].map(([route, acc]) => ({ route, ...acc.row() })).sort((a, b) => a.route.localeCompare(b.route)),
      });
    }
    rows.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service));
    return { windowSeconds: STAT_WINDOW_SECONDS, sidecars, services: rows };
  }
}
