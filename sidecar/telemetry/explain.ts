// Per-request explain: what the sidecar decided for one request and why, in the order it happened:
// the route, each policy decision (rate limit, overflow, breaker, fault, authz, ...) and each attempt
// with its outcome and the retry decision that followed it (the condition that matched, the retry
// budget left, the backoff). One recorder serves three readers: the `petrel-explain` response
// header (compact()), `petrel tap --explain` (words()) and the access log and trace.
//
// It exists only when wanted: attached to an exchange when the pod's own app asks with
// `petrel-explain: 1` on the outbound listener, or when the request is sampled into a tap that
// asked for explanations. Otherwise `exchange.explain` is undefined and every recording site is one
// optional-chain check on a path that is already a decision (a retry, a rejection).
import type { IncomingHttpHeaders } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import { HeaderModifier } from '../proxy/header-modifier.ts';
import type { RetryDecision } from '../policy/retry-decision.ts';
import { GRPC_RETRY_CONDITIONS, type RetryPolicy } from '../policy/retry-policy.ts';

/** The request header the app sends ("1") and the response header it gets back. */
export const EXPLAIN_HEADER = 'petrel-explain';
/** A response header stays well under any server's header limits. */
export const MAX_EXPLAIN_HEADER = 2000;

/** How each no-retry reason reads. */
const NO_RETRY_WORDS: Record<string, string> = {
  attempts: 'attempts exhausted',
  unsafe: 'method not idempotent',
  body: 'body not replayable',
  deadline: 'total timeout would pass',
  budget: 'retry budget exhausted',
};

export interface ExplainRetry {
  /** The `retry.on` condition that matched (gateway-error, 5xx, connect-failure, "429", ...). */
  condition: string;
  /** Retries the budget still allows in its window, after this one, and the window's allowance. */
  budgetLeft: number;
  budgetAllowed: number;
  backoffMs: number;
}

export interface ExplainAttempt {
  n: number;
  endpoint: string;
  /** "503", "200", "grpc 14", or a flag (UF, UC, UT) when no response came. */
  outcome: string | undefined;
  retry: ExplainRetry | undefined;
  /** Why a matching failure was not retried (attempts, budget, unsafe, body, deadline). */
  noRetry: string | undefined;
}

export type ExplainEntry =
  | { kind: 'route'; route: string }
  | { kind: 'decision'; decision: string; flag: string; status: number }
  | { kind: 'delay'; ms: number }
  | ({ kind: 'attempt' } & ExplainAttempt);

/** The `retry.on` condition a retry reason ("503", "grpc-14", "reset") matched, as the policy named it. */
export function retryCondition(on: readonly string[], reason: string): string {
  const status = /^[0-9]+$/.test(reason) ? Number(reason) : undefined;
  const grpc = reason.startsWith('grpc-') ? Number(reason.slice(5)) : undefined;
  for (const c of on) {
    if (c === reason) return c;
    if (status !== undefined) {
      if ((c === 'gateway-error' && status >= 502 && status <= 504) || (c === '5xx' && status >= 500 && status < 600) || (c === 'retriable-4xx' && status === 409)) return c;
    } else if (grpc !== undefined) {
      if (GRPC_RETRY_CONDITIONS[c] === grpc) return c;
    } else if (c === 'gateway-error' || c === '5xx') return c; // connect failure, reset, per-try timeout
  }
  return reason;
}

export class Explanation {
  readonly entries: ExplainEntry[] = [];
  /** The app asked (`petrel-explain: 1`): the response carries the header. False for a tap's recorder. */
  readonly header: boolean;
  #attempt: ({ kind: 'attempt' } & ExplainAttempt) | undefined;

  constructor(header = false) {
    this.header = header;
  }

  /** The response head is about to be relayed: the header joins it (after the route's own modifier). */
  relaying(exchange: { responseHeaders: HeaderModifier | undefined }): void {
    if (this.header && !(exchange.responseHeaders instanceof ExplainResponseHeaders)) exchange.responseHeaders = new ExplainResponseHeaders(exchange.responseHeaders, this);
  }

  route(name: string): void {
    this.entries.push({ kind: 'route', route: name });
  }

  /** A step answered the request itself (reject()): rate_limited, overflow, circuit_open, access_denied, ... */
  decision(decision: string, flag: string, status: number): void {
    this.entries.push({ kind: 'decision', decision, flag, status });
  }

  /** A fault delay held the request. */
  delay(ms: number): void {
    this.entries.push({ kind: 'delay', ms });
  }

  /** An attempt leaves for `endpoint`; on a tracing span, the explanation so far (why this is a retry) becomes an event. */
  attempt(n: number, endpoint: string, span?: { addEvent(name: string, attributes?: Record<string, string>): unknown; isRecording(): boolean }): void {
    if (span !== undefined && this.entries.length > 0 && span.isRecording()) span.addEvent('petrel.explain', { 'petrel.explain': this.compact() });
    this.#attempt = { kind: 'attempt', n, endpoint, outcome: undefined, retry: undefined, noRetry: undefined };
    this.entries.push(this.#attempt);
  }

  /** The attempt's response status (and gRPC status), or the flag of its failure. */
  outcome(outcome: string): void {
    if (this.#attempt !== undefined && this.#attempt.outcome === undefined) this.#attempt.outcome = outcome;
  }

  /** What decideRetry() said after the attempt; a failure the policy does not retry says nothing. */
  retryDecision(decision: RetryDecision, policy: RetryPolicy): void {
    const a = this.#attempt;
    if (a === undefined) return;
    if (decision.retry) {
      const budget = policy.budget.standing();
      a.retry = { condition: retryCondition(policy.on, decision.reason), budgetLeft: budget.left, budgetAllowed: budget.allowed, backoffMs: Math.round(decision.delayMs) };
    } else if (decision.why !== 'condition' && policy.configured) a.noRetry = decision.why;
  }

  /** The `petrel-explain` header: `route=writes; attempt 1 -> 127.0.0.1:8081: 503 retry(gateway-error, budget 9/10, backoff 12ms); attempt 2 -> 127.0.0.1:8082: 200`. */
  compact(): string {
    const parts = this.entries.map((e) => {
      switch (e.kind) {
        case 'route': return `route=${e.route}`;
        case 'decision': return `${e.decision}(${e.status} ${e.flag})`;
        case 'delay': return `fault-delay(${e.ms}ms)`;
        case 'attempt': {
          let s = `attempt ${e.n} -> ${e.endpoint}: ${e.outcome ?? 'pending'}`;
          if (e.retry !== undefined) s += ` retry(${e.retry.condition}, budget ${e.retry.budgetLeft}/${e.retry.budgetAllowed}, backoff ${e.retry.backoffMs}ms)`;
          else if (e.noRetry !== undefined) s += ` no-retry(${e.noRetry})`;
          return s;
        }
      }
    });
    const text = parts.join('; ').replace(/[^\x20-\x7e]/g, '?');
    return text.length <= MAX_EXPLAIN_HEADER ? text : `${text.slice(0, MAX_EXPLAIN_HEADER - 3)}...`;
  }

  /** For people (`petrel tap --explain`): `attempt 1 -> payments-0: 503, retry (gateway-error; budget 18/20 left; backoff 37 ms); attempt 2 -> payments-1: 200`. */
  words(): string {
    return this.entries.map((e) => {
      switch (e.kind) {
        case 'route': return `route ${e.route}`;
        case 'decision': return `${e.decision.replace(/_/g, ' ')}: ${e.status} ${e.flag}`;
        case 'delay': return `delayed ${e.ms} ms by fault injection`;
        case 'attempt': {
          let s = `attempt ${e.n} -> ${e.endpoint}: ${e.outcome ?? 'no outcome'}`;
          if (e.retry !== undefined) s += `, retry (${e.retry.condition}; budget ${e.retry.budgetLeft}/${e.retry.budgetAllowed} left; backoff ${e.retry.backoffMs} ms)`;
          else if (e.noRetry !== undefined) s += `, not retried (${NO_RETRY_WORDS[e.noRetry] ?? e.noRetry})`;
          return s;
        }
      }
    }).join('; ');
  }
}

/**
 * The response headers of an explained request: the route's own ResponseHeaderModifier (if any),
 * then `petrel-explain`, read when the head is written, so the last attempt is in it.
 */
export class ExplainResponseHeaders extends HeaderModifier {
  readonly #inner: HeaderModifier | undefined;
  readonly #explain: Explanation;

  constructor(inner: HeaderModifier | undefined, explain: Explanation) {
    super({});
    this.#inner = inner;
    this.#explain = explain;
  }

  override applyToList(list: string[]): void {
    this.#inner?.applyToList(list);
    list.push(EXPLAIN_HEADER, this.#explain.compact());
  }

  override applyToObject(headers: IncomingHttpHeaders): void {
    this.#inner?.applyToObject(headers);
    headers[EXPLAIN_HEADER] = this.#explain.compact();
  }
}

/** Drops every `petrel-explain` from the flat upstream header list, in place: it never reaches an app. */
export function stripExplainHeader(headers: string[]): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    const name = headers[r] as string;
    if (name.length === EXPLAIN_HEADER.length && name.toLowerCase() === EXPLAIN_HEADER) continue;
    headers[w] = name;
    headers[w + 1] = headers[r + 1] as string;
    w += 2;
  }
  headers.length = w;
}

/** Whether the request's `petrel-explain` asks for an explanation ("1"). */
export function wantsExplain(value: string | string[] | undefined): boolean {
  return value === '1' || (Array.isArray(value) && value.includes('1'));
}

/**
 * An inbound request carrying `petrel-explain` came from outside the pod: it is refused (the header
 * is dropped, nothing is explained, the app never sees it), counted, and logged the first time.
 */
export class ExplainRefusals {
  readonly #counter: Counter;
  readonly #log: Logger;
  #logged = false;

  constructor(registry: Registry, log: Logger) {
    this.#counter = new Counter({
      name: 'petrel_explain_refused_total', help: 'Inbound requests that asked for petrel-explain: refused (only the pod\'s own app may ask, on the outbound listener).',
      registers: [registry],
    });
    this.#log = log;
  }

  refuse(headers: string[], requestId: string): void {
    stripExplainHeader(headers);
    this.#counter.inc();
    if (this.#logged) return;
    this.#logged = true;
    this.#log.warn({ requestId }, 'an inbound request asked for petrel-explain: refused (only the pod\'s own app may ask, on the outbound listener); the header was dropped. Counted in petrel_explain_refused_total; logged once');
  }
}
