// Durations on the wire are strings such as "250ms", "2s", "1m30s" (Go/Kubernetes style).
// They are parsed once, when a config arrives, into whole milliseconds.

/** The pattern the schema enforces; parseDuration accepts exactly what it matches. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$';

/**
 * The longest delay a Node timer holds: setTimeout and setInterval take a signed 32-bit delay and
 * fire after 1 ms when given more (about 24.8 days). Every duration that reaches a timer must be
 * bounded below this; the schema and the CLI flags bound theirs far lower.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The longest value a CLI duration flag (--drain-grace, --header-timeout, ...) takes. Kubernetes
 * settings that become such a flag (the petrel.dev/drain-grace annotation) should be held to it too.
 */
export const MAX_FLAG_DURATION_MS = 3_600_000;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
const WHOLE = new RegExp(DURATION_PATTERN);

export class DurationError extends Error {
  readonly code = 'PETREL_BAD_DURATION';
}

/** Parses "1m30s" into 90000. Throws DurationError on anything else. */
export function parseDuration(text: string): number {
  if (!WHOLE.test(text)) {
    throw new DurationError(`"${text}" is not a duration; expected a number with a unit, such as "250ms", "2s", "5m" or "1h"`);
  }
  let total = 0;
  PART.lastIndex = 0;
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  }
  return Math.round(total);
}

/** "600h" is longer than the maximum of 24h, for a value above maxMs; undefined when it fits. */
export function exceedsMaximum(text: string, ms: number, maxMs: number): string | undefined {
  return ms > maxMs ? `"${text}" is longer than the maximum of ${formatDuration(maxMs)}` : undefined;
}

/** Formats milliseconds the way a person writes them: 1500 -> "1.5s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${ms / 1000}s`;
  if (ms < 3_600_000) return `${ms / 60_000}m`;
  return `${ms / 3_600_000}h`;
}
