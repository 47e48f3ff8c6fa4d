// When and what to push. Changes (policies, endpoints) are debounced into rounds; each round compiles
// the shared part once and pushes to every connected sidecar whose snapshot content changed. Versions
// increase across restarts too: they start from the clock. Right after a start, sidecars that come
// back holding a config get no push until the registry has refilled (the startup grace).
import type { Logger } from 'pino';
import type { IdentitySpec } from '../api/types.ts';
import { systemClock, type Clock, type TimerHandle } from '../sidecar/policy/clock.ts';
import { AccessIndex } from './access-index.ts';
import { CompiledRound, compileFor, PolicyIndex } from './compiler.ts';
import type { ControlMetrics } from './metrics.ts';
import type { StoredPolicy } from './policy.ts';
import type { ServiceRecord } from './registry.ts';
import { compileServiceRouting } from './routing/compile.ts';
import { routesOf } from './routing/stored-route.ts';
import type { Subscription } from './subscription.ts';

export interface PushSchedulerOptions {
  /** Changes within this window are pushed together. */
  debounceMs: number;
  /** After start(), sidecars holding a config get no push for this long. */
  startupGraceMs: number;
  subscriptions: () => Iterable<Subscription>;
  services: () => ServiceRecord[];
  policies: () => readonly StoredPolicy[];
  /** The trust bundle every snapshot carries; undefined when identity is off. */
  identity?: () => IdentitySpec | undefined;
  metrics: ControlMetrics;
  log: Logger;
  /** Runs before each round (the control plane reports new policy errors there). */
  beforeRound?: () => void;
  clock?: Clock;
}

export class PushScheduler {
  readonly #o: PushSchedulerOptions;
  readonly #clock: Clock;
  #generation = Date.now();
  #timer: TimerHandle | undefined;
  #graceTimer: TimerHandle | undefined;
  #warmUntil = 0;
  /** Warnings already logged: a round runs on every change, and each would repeat them. */
  #warned = new Set<string>();

  constructor(options: PushSchedulerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Starts the startup grace; one round runs when it ends. */
  start(): void {
    this.#warmUntil = this.#clock.now() + this.#o.startupGraceMs;
    if (this.#o.startupGraceMs > 0) this.#graceTimer = this.#clock.setTimeout((self: PushScheduler) => self.schedule(), this.#o.startupGraceMs, this);
  }

  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#graceTimer !== undefined) this.#clock.clearTimeout(this.#graceTimer);
    this.#timer = undefined;
  }

  /** A change happened: a round runs after the debounce window. */
  schedule(): void {
    if (this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout((self: PushScheduler) => self.flush(), this.#o.debounceMs, this);
  }

  /** Runs a round now (a deregistration must not wait for the debounce window). */
  flush(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#o.beforeRound?.();
    const round = this.round();
    for (const sub of this.#o.subscriptions()) if (sub.connected) this.pushTo(sub, round);
  }

  /** The shared part of this round's snapshots, HTTPRoutes and GRPCRoutes compiled from the policy sources' resources. */
  round(): CompiledRound {
    const policies = this.#o.policies();
    const services = this.#o.services();
    const warnings: string[] = [];
    const index = new PolicyIndex(policies);
    const routes = routesOf(policies);
    const { routing, ports } = compileServiceRouting(routes, services, undefined, (w) => warnings.push(w), index);
    const access = new AccessIndex(policies);
    const round = new CompiledRound(services, index, access, this.#o.identity?.(), routing, ports);
    this.#logNew([...index.warnings, ...index.targetsNamingNothing(routes), ...access.warnings, ...warnings, ...round.warnings]);
    return round;
  }

  #logNew(warnings: string[]): void {
    for (const w of warnings) if (!this.#warned.has(w)) this.#o.log.warn(w);
    this.#warned = new Set(warnings); // a warning that went away and comes back is logged again
  }

  /** A new subscription: push unless what it holds (`held`) is current. */
  subscribed(sub: Subscription, held: { version: number; hash: string } | undefined): void {
    const round = this.round();
    const compiled = compileFor(sub.node, round);
    if (held === undefined) return this.pushTo(sub, round, compiled);
    // It holds a config: current (nothing to send), or to be replaced by the next push. Until then
    // it is STALE; it counts as acknowledged only when the content matches.
    const current = held.hash === compiled.hash;
    sub.resumed(held.version, held.hash, current);
    this.#generation = Math.max(this.#generation, held.version);
    if (!current) this.pushTo(sub, round, compiled);
  }

  /** `compiled`: the sidecar's snapshot when the caller already built it from this round. */
  pushTo(sub: Subscription, round: CompiledRound, compiled?: { json: string; hash: string }): void {
    // Warming up after a start: a sidecar that came back holding a config keeps it until the
    // registry has refilled.
    if (sub.heldVersion !== null && this.#clock.now() < this.#warmUntil) return;
    const { json, hash } = compiled ?? compileFor(sub.node, round);
    if (hash === sub.sentHash) {
      // What it holds (possibly since before a restart) is what it should hold.
      sub.confirmHeld();
      return;
    }
    const version = ++this.#generation;
    sub.push(version, hash, json);
    this.#o.metrics.pushes.inc();
    this.#o.log.debug({ sidecar: sub.id, service: sub.node.service, version }, 'pushed');
  }
}
