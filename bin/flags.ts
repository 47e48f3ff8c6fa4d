// Parsers for the CLI's flag values. Each refuses a bad value with a sentence that commander prints
// as one line (exit 2), before any work starts.
import { InvalidArgumentError } from 'commander';
import { exceedsMaximum, formatDuration, parseDuration } from '../api/duration.ts';

export function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a port (0-65535)`);
  return n;
}

/** A port callers dial (a Service port): 1-65535; 0 means "any free port" only for a listener. */
export function servicePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`"${value}" is not a service port (1-65535)`);
  return n;
}

export function uid(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 4294967294) throw new InvalidArgumentError(`"${value}" is not a uid`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return n;
}

/**
 * A duration flag no longer than maxMs. Every duration flag ends up in a timer, and Node fires a
 * timer of 2^31 ms or more after 1 ms: an unbounded `--drain-grace 600h` made SIGTERM exit at once.
 */
export function durationAtMost(maxMs: number): (value: string) => number {
  return (value: string) => {
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
    const tooLong = exceedsMaximum(value, ms, maxMs);
    if (tooLong !== undefined) throw new InvalidArgumentError(`${tooLong}; choose at most ${formatDuration(maxMs)}`);
    return ms;
  };
}

export function hostPort(value: string): string {
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(value)) throw new InvalidArgumentError(`"${value}" is not HOST:PORT`);
  return value;
}

/** An http(s)://HOST:PORT base URL such as a control plane's; paths are added to it, so it has none. */
export function baseUrl(value: string): string {
  const expected = `"${value}" is not a URL such as http://127.0.0.1:15010; expected http://HOST:PORT`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(expected);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw new InvalidArgumentError(expected);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new InvalidArgumentError(`"${value}" has a path, query or credentials; expected only http://HOST:PORT`);
  }
  return value;
}

/** Sidecars renew at 70% of a certificate's life, in a Node timer: 30 days keeps that under 2^31 ms. */
export const MAX_CERT_TTL_MS = 720 * 3_600_000;
/** Shorter lifetimes would have sidecars renew every few seconds, into the issuance rate limit. */
export const MIN_CERT_TTL_MS = 10_000;

export function certTtl(value: string): number {
  const ms = durationAtMost(MAX_CERT_TTL_MS)(value);
  if (ms < MIN_CERT_TTL_MS) throw new InvalidArgumentError(`"${value}" is shorter than ${formatDuration(MIN_CERT_TTL_MS)}; a certificate must outlive a few renewal attempts`);
  return ms;
}

/** A SPIFFE trust domain: lower-case DNS-like name (sidecar/identity/spiffe.ts parses it back). */
export function trustDomain(value: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/.test(value)) throw new InvalidArgumentError(`"${value}" is not a trust domain (lower-case letters, digits, '-' and '.', such as cluster.local)`);
  return value;
}
