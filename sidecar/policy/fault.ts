// Fault injection for chaos tests: delay a share of requests, abort a share with a status.
import type { Random } from './clock.ts';

export interface FaultConfig {
  delay: { ms: number; percent: number } | undefined;
  abort: { status: number; percent: number } | undefined;
}

export type FaultDecision = { kind: 'none' } | { kind: 'delay'; ms: number } | { kind: 'abort'; status: number };

const NONE: FaultDecision = { kind: 'none' };

export class FaultInjector {
  readonly config: FaultConfig;
  readonly #random: Random;
  readonly #delay: FaultDecision | undefined;
  readonly #abort: FaultDecision | undefined;

  constructor(config: FaultConfig, random: Random) {
    this.config = config;
    this.#random = random;
    this.#delay = config.delay && { kind: 'delay', ms: config.delay.ms };
    this.#abort = config.abort && { kind: 'abort', status: config.abort.status };
  }

  /** The abort decision comes first: an aborted request is not also delayed. */
  decide(): FaultDecision {
    const { abort, delay } = this.config;
    if (abort && this.#random.next() * 100 < abort.percent) return this.#abort as FaultDecision;
    if (delay && this.#random.next() * 100 < delay.percent) return this.#delay as FaultDecision;
    return NONE;
  }
}
