// Time and randomness, injected into every policy so tests are exact: a fake clock advances by hand
// and a seeded random source repeats its sequence. Production uses the system ones.
import { performance } from 'node:perf_hooks';
import { MAX_TIMER_MS } from '../../api/duration.ts';

export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic scale. */
  now(): number;
  /** Calls `callback(arg)` after `ms`; passing `arg` spares the caller a closure per timer. */
  setTimeout<T>(callback: (arg: T) => void, ms: number, arg: T): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
}

/** The one place a policy timer meets Node: a delay past MAX_TIMER_MS is clamped, never fired at once. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms, arg) => setTimeout(callback, Math.min(ms, MAX_TIMER_MS), arg),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const systemRandom: Random = { next: Math.random };

/** mulberry32: a small seeded generator, for tests and reproducible runs. */
export class SeededRandom implements Random {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
