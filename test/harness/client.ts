// Test clients: node:http for ordinary requests (one fresh connection each), raw TCP for the
// malformed ones a well-behaved client library would refuse to send.
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  trailers: NodeJS.Dict<string>;
}

export interface Call {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders | [string, string][];
  body?: string | Buffer;
  /** Send the body with chunked transfer encoding in these pieces. */
  chunks?: string[];
  /** Pause between chunks, so the body is still streaming when the proxy forwards the head. */
  chunkGapMs?: number;
}

export function call(port: number, c: Call = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = Array.isArray(c.headers) ? c.headers.flat() : c.headers;
    const req = httpRequest({ host: '127.0.0.1', port, method: c.method ?? 'GET', path: c.path ?? '/', headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString(), trailers: res.trailers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (c.chunks) {
      const pieces = [...c.chunks];
      const next = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) { req.end(); return; }
        req.write(piece);
        setTimeout(next, c.chunkGapMs ?? 0);
      };
      next();
    } else req.end(c.body);
  });
}

/** Writes raw bytes and collects everything the server sends until it closes or `waitMs` passes. */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    const timer = setTimeout(() => { socket.destroy(); resolve(out); }, waitMs);
    socket.on('data', (d: Buffer) => { out += d.toString('latin1'); });
    socket.on('close', () => { clearTimeout(timer); resolve(out); });
    socket.on('error', (err) => { clearTimeout(timer); if (out) resolve(out); else reject(err); });
    socket.write(bytes);
  });
}
