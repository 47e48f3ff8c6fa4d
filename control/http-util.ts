// Small HTTP helpers the control plane's servers share: JSON answers, bounded request bodies, listen.
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body as text, or undefined after answering 413 when it exceeds `limit` bytes. */
export function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let body = '';
    let size = 0;
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      size += Buffer.byteLength(chunk);
      if (size > limit) {
        if (!res.headersSent) {
          res.once('finish', () => req.destroy());
          res.setHeader('connection', 'close');
          json(res, 413, { error: `${req.method} ${req.url?.split('?')[0]}: the body exceeds ${limit} bytes` });
        }
        resolve(undefined);
        return;
      }
      body += chunk;
    });
    req.on('end', () => resolve(size > limit ? undefined : body));
    req.on('error', () => resolve(undefined));
  });
}

export async function listen(server: Server, host: string, port: number): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err; })]);
}
