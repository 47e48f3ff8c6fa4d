// The sidecar's last 30 seconds for `petrel stat`: per (direction, service, route), a ring of
// one-second slots, each holding requests, failures, retries and a latency histogram over the fixed
// LATENCY_BUCKETS. The request path calls record() once per request, from the place that already
// counts petrel_requests_total (request-series.ts): one clock read, a few array increments, no
// allocation. Slots that fall out of the window are zeroed lazily, when the clock has moved on.
// summary() sums the slots for the control plane (api/stat-summary.ts).
import { MAX_STAT_SERIES, STAT_BUCKETS, STAT_WINDOW_SECONDS, type StatDirection, type StatSeries, type StatSummary } from '../../api/stat-summary.ts';

const SLOT_MS = 1000;
const SLOTS = STAT_WINDOW_SECONDS;
/** Per slot: requests, failures, retries, then the histogram. */
const REQUESTS = 0;
const FAILURES = 1;
const RETRIES = 2;
const STRIDE = 3 + STAT_BUCKETS;

/** Monotonic milliseconds; tests inject a fake. */
export type StatClock = () => number;

/** One (direction, service, route): what the request path holds and records into. */
export class StatWindow {
  readonly direction: StatDirection;
  readonly service: string;
  readonly route: string;
  readonly #clock: StatClock;
  readonly #slots = new Float64Array(SLOTS * STRIDE);
  /** The absolute slot number (clock / SLOT_MS) last written or summed. */
  #slot: number;

  constructor(direction: StatDirection, service: string, route: string, clock: StatClock) {
    this.direction = direction;
    this.service = service;
    this.route = route;
    this.#clock = clock;
    this.#slot = Math.floor(clock() / SLOT_MS);
  }

  /** One request: `bucket` is its LATENCY_BUCKETS index (STAT_BUCKETS - 1 for +Inf), computed once by the caller. */
  record(failed: boolean, bucket: number): void {
    const base = this.#current() * STRIDE;
    const d = this.#slots;
    d[base + REQUESTS]! += 1;
    if (failed) d[base + FAILURES]! += 1;
    d[base + 3 + bucket]! += 1;
  }

  retry(): void {
    this.#slots[this.#current() * STRIDE + RETRIES]! += 1;
  }

  /** The window's sums; undefined when it saw nothing (a summary leaves it out). */
  sum(): Omit<StatSeries, 'direction' | 'service' | 'route'> | undefined {
    this.#current();
    const d = this.#slots;
    const totals = new Array<number>(STRIDE).fill(0);
    for (let s = 0; s < SLOTS; s++) for (let k = 0; k < STRIDE; k++) totals[k] = (totals[k] as number) + (d[s * STRIDE + k] as number);
    if (totals[REQUESTS] === 0 && totals[RETRIES] === 0) return undefined;
    return { requests: totals[REQUESTS] as number, failures: totals[FAILURES] as number, retries: totals[RETRIES] as number, buckets: totals.slice(3) };
  }

  /** The ring index for now, zeroing the slots the clock skipped since the last write. */
  #current(): number {
    const slot = Math.floor(this.#clock() / SLOT_MS);
    if (slot !== this.#slot) {
      const d = this.#slots;
      if (slot - this.#slot >= SLOTS || slot < this.#slot) d.fill(0);
      else for (let s = this.#slot + 1; s <= slot; s++) d.fill(0, (s % SLOTS) * STRIDE, (s % SLOTS + 1) * STRIDE);
      this.#slot = slot;
    }
    return slot % SLOTS;
  }
}

/** Every window of one sidecar, bounded: past MAX_STAT_SERIES - 1 keys, the rest share one "other". */
export class StatWindows {
  readonly #clock: StatClock;
  readonly #started: number;
  readonly #windows = new Map<string, StatWindow>();
  #other: StatWindow | undefined;

  constructor(clock: StatClock = () => performance.now()) {
    this.#clock = clock;
    this.#started = clock();
  }

  /** The window for a key, created once; callers keep it (labels are resolved once, not per request). */
  window(direction: StatDirection, service: string, route: string): StatWindow {
    const key = `${direction}\0${service}\0${route}`;
    let w = this.#windows.get(key);
    if (w !== undefined) return w;
    if (this.#windows.size >= MAX_STAT_SERIES - 1) return (this.#other ??= new StatWindow(direction, 'other', 'default', this.#clock));
    this.#windows.set(key, (w = new StatWindow(direction, service, route, this.#clock)));
    return w;
  }

  /** The last 30 s (less while younger), windows that saw nothing left out. */
  summary(): StatSummary {
    const series: StatSeries[] = [];
    const all = this.#other === undefined ? [...this.#windows.values()] : [...this.#windows.values(), this.#other];
    for (const w of all) {
      const sum = w.sum();
      if (sum !== undefined) series.push({ direction: w.direction, service: w.service, route: w.route, ...sum });
    }
    const now = this.#clock();
    // The ring holds 29 whole slots plus the current one's elapsed part.
    const covered = (SLOTS - 1) + (now % SLOT_MS) / SLOT_MS;
    const windowSeconds = Math.max(1, Math.min(covered, (now - this.#started) / 1000));
    return { windowSeconds: Math.round(windowSeconds * 1000) / 1000, series };
  }
}
