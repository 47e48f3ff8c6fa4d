// The control plane's side of `petrel stat`: the latest summary of each sidecar (sent on its
// stream, POST /v1/stats), merged on request for GET /v1/stat. Merging sums counters and per-bucket
// histogram counts across sidecars; quantiles come from the merged buckets (api/stat-summary.ts).
// A service's row takes the inbound numbers (what its own sidecars saw: the truth about the
// service, as Linkerd's stat) when there are any, else its callers' outbound ones; retries are
// the callers' (retries are decided on the outbound side). Route rows are the callers' view, per
// route name.
import { STAT_WINDOW_SECONDS, StatAccumulator, type ServiceStat, type StatBody, type StatSummary } from '../api/stat-summary.ts';

/** A summary older than this is dropped: its sidecar stopped sending (gone, or cut off). */
export const STAT_MAX_AGE_MS = 15_000;

interface Held {
  summary: StatSummary;
  /** The sidecar's namespace: inbound rows are in it. */
  namespace: string;
  receivedAt: number;
}

export class StatStore {
  readonly #held = new Map<string, Held>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Keeps the latest summary of subscription `id`. */
  report(id: string, namespace: string, summary: StatSummary): void {
    this.#held.set(id, { summary, namespace, receivedAt: this.#now() });
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
