// How numbers read on the page, and when a service or call counts as failing.

/** Below this success rate a service or an edge is failing (red); below HEALTHY it is degraded. */
export const FAILING_BELOW = 0.95;
export const HEALTHY_FROM = 0.99;

/** healthy | degraded | failing, or idle with no requests in the window. */
export function health(successRate) {
  if (successRate === null || successRate === undefined) return 'idle';
  if (successRate < FAILING_BELOW) return 'failing';
  if (successRate < HEALTHY_FROM) return 'degraded';
  return 'healthy';
}

export function rps(n) {
  return n === null || n === undefined ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(2);
}

export function percent(rate) {
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(2)}%`;
}

export function ms(n) {
  if (n === null || n === undefined) return '–';
  if (n >= 1000) return `${(n / 1000).toFixed(2)}s`;
  return n >= 10 ? `${n.toFixed(0)}ms` : `${n.toFixed(1)}ms`;
}

/** "12s ago" from an ISO time. */
export function ago(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '–';
  const s = Math.max(0, Math.round((now - t) / 1000));
  return s < 120 ? `${s}s ago` : `${Math.round(s / 60)}m ago`;
}
