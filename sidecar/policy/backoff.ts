// Delay before a retry. `exponential-jitter` is "full jitter" (AWS Architecture Blog, 2015): a
// uniform draw below the exponential ceiling, which spreads retries of many clients best.
import type { Random } from './clock.ts';

export type BackoffStrategy = 'fixed' | 'exponential' | 'exponential-jitter';

/** Defaults: exponential-jitter from 25 ms up to 250 ms. */
export const DEFAULT_BACKOFF = { strategy: 'exponential-jitter' as BackoffStrategy, baseMs: 25, maxMs: 250 };

export class Backoff {
  readonly strategy: BackoffStrategy;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly #random: Random;

  constructor(strategy: BackoffStrategy, baseMs: number, maxMs: number, random: Random) {
    this.strategy = strategy;
    this.baseMs = baseMs;
    this.maxMs = maxMs;
    this.#random = random;
  }

  /** Milliseconds to wait before retry number `retry` (1 for the first retry). */
  delay(retry: number): number {
    if (this.strategy === 'fixed') return Math.min(this.baseMs, this.maxMs);
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** (retry - 1));
    if (this.strategy === 'exponential') return ceiling;
    return Math.floor(this.#random.next() * ceiling);
  }
}
