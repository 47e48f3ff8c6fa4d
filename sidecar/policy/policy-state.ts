// Long-lived policy state (token buckets, concurrency limiters, retry budgets), kept across
// snapshots. Every endpoint change pushes a new snapshot to every sidecar; were this state rebuilt
// each time, a 1 request/s bucket would refill to its burst on each push and a concurrency limit
// of 1 would admit a second call as soon as a pod registered anywhere. An object is keyed by where
// it applies (service, route) and by its own spec: it is replaced only when its own settings
// change, and dropped when no snapshot names it any more. Endpoint state (breakers, latency) has
// its own registry (upstream/endpoint-state.ts).

export class PolicyStateRegistry {
  readonly #states = new Map<string, unknown>();

  /**
   * The object at `place` for `spec` (any JSON-able settings), made by `create` the first time.
   * `used` collects the keys the snapshot being compiled needs, for retain() after the swap.
   */
  get<T>(place: string, spec: unknown, used: Set<string>, create: () => T): T {
    const key = `${place}#${JSON.stringify(spec)}`;
    used.add(key);
    let state = this.#states.get(key) as T | undefined;
    if (state === undefined) {
      state = create();
      this.#states.set(key, state);
    }
    return state;
  }

  /** Drops the state no snapshot in force names. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.#states.keys()) if (!keys.has(key)) this.#states.delete(key);
  }

  get size(): number {
    return this.#states.size;
  }
}
