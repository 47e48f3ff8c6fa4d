// An OTLP/HTTP (JSON) trace receiver inside the test: the sidecars export to it, the test reads the spans.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

export interface OtlpSpan {
  traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number;
  attributes: { key: string; value: { stringValue?: string; intValue?: number | string } }[];
  events?: { name: string }[];
  service: string;
}

export const SERVER = 2;
export const CLIENT = 3;

/** A span attribute's value (a string, or an integer as a number). */
export function attr(s: OtlpSpan, key: string): string | number | undefined {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? (v?.intValue === undefined ? undefined : Number(v.intValue));
}

export interface OtlpReceiver {
  readonly spans: OtlpSpan[];
  /** OTEL_EXPORTER_OTLP_ENDPOINT for the sidecars. */
  readonly endpoint: string;
  /** Waits until at least `count` spans arrived (or 10 s passed). */
  waitFor(count: number): Promise<void>;
  close(): void;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans: { resource: { attributes: OtlpSpan['attributes'] }; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    spans,
    endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    async waitFor(count) {
      const deadline = Date.now() + 10_000;
      while (spans.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    },
    close: () => server.close(),
  };
}
