// At most `maxRequests` requests in flight to a service; up to `maxPending` more wait in FIFO order
// for a slot; the rest are refused (503 UO). Waiters that give up (client gone, timeout) leave the
// queue at once.

/** Defaults: 1024 in flight, 1024 waiting. */
export const DEFAULT_CONCURRENCY = { maxRequests: 1024, maxPending: 1024 };

export interface Waiter {
  /** Called when the waiter gets its slot. */
  granted(): void;
}

export class ConcurrencyLimiter {
  readonly maxRequests: number;
  readonly maxPending: number;
  #inFlight = 0;
  readonly #queue = new Set<Waiter>();

  constructor(maxRequests: number, maxPending: number) {
    this.maxRequests = maxRequests;
    this.maxPending = maxPending;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get pending(): number {
    return this.#queue.size;
  }

  /**
   * 'granted': the caller holds a slot now; 'queued': `waiter.granted()` runs when one frees;
   * 'rejected': both the slots and the queue are full.
   */
  acquire(waiter: Waiter): 'granted' | 'queued' | 'rejected' {
    if (this.#inFlight < this.maxRequests) {
      this.#inFlight++;
      return 'granted';
    }
    if (this.#queue.size >= this.maxPending) return 'rejected';
    this.#queue.add(waiter);
    return 'queued';
  }

  /** A queued waiter gives up before it got a slot. */
  cancel(waiter: Waiter): void {
    this.#queue.delete(waiter);
  }

  /** A slot holder is done; the longest waiter gets the slot. */
  release(): void {
    for (const next of this.#queue) {
      this.#queue.delete(next);
      next.granted();
      return;
    }
    this.#inFlight--;
  }
}
