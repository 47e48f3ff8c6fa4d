// A retry budget (as in Linkerd and Finagle): retries may add at most `ratio` of the request rate,
// with a floor of `minPerSecond`, measured over a sliding window. It stops retry storms: when a
// service is down, retries stop at the budget instead of multiplying the load by `attempts`.
import type { Clock } from './clock.ts';
import { SlidingWindow } from './sliding-window.ts';

/** Defaults: retries may add 20% load, at least 10 retries a second, over 10 s. */
export const DEFAULT_BUDGET = { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 };

export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  /** A: original requests; B: retries taken. */
  readonly #window: SlidingWindow;

  constructor(ratio: number, minPerSecond: number, clock: Clock, windowMs = DEFAULT_BUDGET.windowMs) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.#window = new SlidingWindow(windowMs, clock);
  }

  get windowMs(): number {
    return this.#window.windowMs;
  }

  /** Counts an original request (not a retry). */
  recordRequest(): void {
    this.#window.addA();
  }

  #allowed(): number {
    return Math.max(this.minPerSecond * (this.#window.windowMs / 1000), this.ratio * this.#window.sumA());
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    const allowed = this.#allowed();
    if (this.#window.sumB() + 1 > allowed) return false;
    this.#window.addB();
    return true;
  }

  /** Retries the window still allows, and how many it allows in all (for explanations; not on the request path). */
  standing(): { left: number; allowed: number } {
    const allowed = Math.floor(this.#allowed());
    return { left: Math.max(0, allowed - this.#window.sumB()), allowed };
  }
}
