// Serving /metrics: Prometheus text by default, OpenMetrics 1.0 when the scraper asks for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * The Prometheus text exposition rewritten as OpenMetrics 1.0: counters are announced without
 * their `_total` suffix (the samples keep it), there are no empty lines, and it ends with `# EOF`.
 */
export function toOpenMetrics(text: string): string {
  const counters = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+)_total counter$/gm)) counters.add(m[1] as string);
  const out = text.replace(/^# (HELP|TYPE) (\S+)_total( .*)$/gm, (line, kind: string, base: string, rest: string) =>
    (counters.has(base) ? `# ${kind} ${base}${rest}` : line));
  // OpenMetrics allows no empty lines (prom-client separates families with one).
  return `${out.split('\n').filter((line) => line !== '').join('\n')}\n# EOF\n`;
}

export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Whether a scraper's Accept header asks for OpenMetrics. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

/** Prometheus text, or OpenMetrics when the scraper's Accept header asks for it. */
export function serveMetrics(registry: Registry, req: IncomingMessage, res: ServerResponse): void {
  registry.metrics().then((text) => {
    const open = wantsOpenMetrics(req.headers.accept);
    res.writeHead(200, { 'content-type': open ? OPENMETRICS_CONTENT_TYPE : registry.contentType });
    res.end(open ? toOpenMetrics(text) : text);
  }, (err: Error) => {
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`metrics collection failed: ${err.message}\n`);
  });
}
