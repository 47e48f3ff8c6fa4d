// A circuit breaker for one endpoint. CLOSED counts outcomes; it trips to OPEN on `consecutiveFailures`
// failures in a row, or when the failure share over a sliding window reaches `threshold` once the
// window holds `minRequests`. OPEN lasts `openFor`, doubling on each trip that follows a failed
// probe, with ±10% jitter, capped at `maxOpenFor`. Then HALF_OPEN admits `halfOpenProbes` real
// requests: all succeeding closes the breaker, any failure re-opens it.
import type { Clock, Random } from './clock.ts';
import { SlidingWindow } from './sliding-window.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerConfig {
  consecutiveFailures: number;
  failureRate: { threshold: number; windowMs: number; minRequests: number } | undefined;
  openForMs: number;
  maxOpenForMs: number;
  halfOpenProbes: number;
}

/** Defaults: 5 failures in a row, or 50% of at least 20 requests in 10 s; open 30 s, up to 5 min; 1 probe. */
export const DEFAULT_BREAKER: BreakerConfig = {
  consecutiveFailures: 5,
  failureRate: { threshold: 0.5, windowMs: 10_000, minRequests: 20 },
  openForMs: 30_000,
  maxOpenForMs: 300_000,
  halfOpenProbes: 1,
};

const JITTER = 0.1;

export type TransitionListener = (to: CircuitState, from: CircuitState) => void;

export class CircuitBreaker {
  readonly config: BreakerConfig;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #onTransition: TransitionListener;
  #state: CircuitState = 'closed';
  #consecutive = 0;
  /** Trips since the breaker last closed; each one doubles the open time. */
  #trips = 0;
  #openUntil = 0;
  #probesAdmitted = 0;
  #probesSucceeded = 0;
  /** A: successes; B: failures, over the failure-rate window. */
  readonly #window: SlidingWindow;

  constructor(config: BreakerConfig, clock: Clock, random: Random, onTransition: TransitionListener = () => {}) {
    this.config = config;
    this.#clock = clock;
    this.#random = random;
    this.#onTransition = onTransition;
    this.#window = new SlidingWindow(config.failureRate?.windowMs ?? DEFAULT_BREAKER.failureRate!.windowMs, clock);
  }

  get state(): CircuitState {
    return this.#state;
  }

  /** When an open breaker will admit a probe (clock ms); 0 when not open. */
  get openUntil(): number {
    return this.#state === 'open' ? this.#openUntil : 0;
  }

  /** Whether a request could be sent now, without claiming a probe slot (balancers ask this). */
  available(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') return this.#clock.now() >= this.#openUntil;
    return this.#probesAdmitted < this.config.halfOpenProbes;
  }

  /** Claims the right to send one request; false when the breaker refuses it. */
  acquire(): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (this.#clock.now() < this.#openUntil) return false;
      this.#transition('half-open');
      this.#probesAdmitted = 0;
      this.#probesSucceeded = 0;
    }
    if (this.#probesAdmitted >= this.config.halfOpenProbes) return false;
    this.#probesAdmitted++;
    return true;
  }

  onSuccess(): void {
    if (this.#state === 'half-open') {
      this.#probesSucceeded++;
      if (this.#probesSucceeded >= this.config.halfOpenProbes) {
        this.#trips = 0;
        this.#reset();
        this.#transition('closed');
      }
      return;
    }
    if (this.#state !== 'closed') return;
    this.#consecutive = 0;
    this.#window.addA();
  }

  /**
   * A success from an endpoint the balancer used in panic (too few endpoints available): proof
   * that it serves again, so an open breaker closes at once instead of waiting out `openFor`.
   */
  onPanicSuccess(): void {
    if (this.#state !== 'open') return this.onSuccess();
    this.#trips = 0;
    this.#reset();
    this.#transition('closed');
  }

  /** A request was abandoned by its client: no verdict, but a half-open probe slot is freed. */
  onCancelled(): void {
    if (this.#state === 'half-open' && this.#probesAdmitted > this.#probesSucceeded) this.#probesAdmitted--;
  }

  onFailure(): void {
    if (this.#state === 'half-open') {
      this.#open();
      return;
    }
    if (this.#state !== 'closed') return;
    this.#consecutive++;
    this.#window.addB();
    if (this.#consecutive >= this.config.consecutiveFailures || this.#rateTripped()) this.#open();
  }

  /** The open time of the next trip: openFor doubled per earlier trip, jittered, capped. */
  nextOpenDuration(): number {
    const { openForMs, maxOpenForMs } = this.config;
    const base = Math.min(maxOpenForMs, openForMs * 2 ** this.#trips);
    const jittered = base * (1 - JITTER + 2 * JITTER * this.#random.next());
    return Math.round(Math.min(maxOpenForMs, jittered));
  }

  #open(): void {
    this.#openUntil = this.#clock.now() + this.nextOpenDuration();
    this.#trips++;
    this.#reset();
    this.#transition('open');
  }

  #rateTripped(): boolean {
    const rate = this.config.failureRate;
    if (rate === undefined) return false;
    const failures = this.#window.sumB();
    const total = this.#window.sumA() + failures;
    return total >= rate.minRequests && failures / total >= rate.threshold;
  }

  #reset(): void {
    this.#consecutive = 0;
    this.#window.reset();
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    this.#onTransition(to, from);
  }
}
