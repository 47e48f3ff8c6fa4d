// An app behind a sidecar that serves HTTP/1.1 and plaintext HTTP/2 (prior knowledge) on one port,
// as the sidecar's inbound side expects of `--app` (HTTP/2 requests go to it as h2c, HTTP/1.1 as
// HTTP/1.1). The first 24 bytes of a connection decide: the HTTP/2 preface goes to a node:http2
// server, anything else to a node:http server. It counts what arrives, so a test can say how much of
// an attack reached it.
//
// Behaviour by path (both protocols):
//   /big...      200, streams `bigBytes` bytes, respecting backpressure (bigWritten counts what left)
//   anything     200, JSON { protocol, method, path, bytes }
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as h2, createServer as createH2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { PREFACE } from './h2-frames.ts';

export interface DualProtocolApp {
  address: string;
  port: number;
  /** HTTP/2 streams whose headers arrived. */
  h2Streams(): number;
  /** HTTP/2 streams not closed yet. */
  h2Open(): number;
  /** HTTP/1.1 requests whose head arrived. */
  h1Requests(): number;
  /** Paths of every request, both protocols, in arrival order (bounded: the first 100 000). */
  paths: string[];
  /** Body bytes the /big handlers handed to their streams so far. */
  bigWritten(): number;
  connections(): number;
  close(): Promise<void>;
}

export interface DualProtocolAppOptions {
  /** Size of each /big answer. Default 256 MiB. */
  bigBytes?: number;
}

const PIECE = Buffer.alloc(64 * 1024, 0x61);
const MAX_PATHS = 100_000;

export async function startDualProtocolApp(options: DualProtocolAppOptions = {}): Promise<DualProtocolApp> {
  const bigBytes = options.bigBytes ?? 256 * 1024 * 1024;
  let h2Streams = 0;
  let h2Open = 0;
  let h1Requests = 0;
  let bigWritten = 0;
  let connections = 0;
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const note = (path: string): void => { if (paths.length < MAX_PATHS) paths.push(path); };

  /** Writes `bigBytes` in pieces, waiting for 'drain' whenever the stream's buffer is full. */
  const pump = (out: NodeJS.WritableStream & { destroyed: boolean; once(e: 'drain', f: () => void): unknown }, end: () => void): void => {
    let written = 0;
    const step = (): void => {
      while (written < bigBytes && !out.destroyed) {
        written += PIECE.length;
        bigWritten += PIECE.length;
        if (!out.write(PIECE)) { out.once('drain', step); return; }
      }
      if (written >= bigBytes && !out.destroyed) end();
    };
    step();
  };

  // Generous limits: whatever a sidecar lets through must reach the handlers and be counted.
  const h2Server: Http2Server = createH2Server({ maxSessionMemory: 256, maxHeaderListPairs: 4000, settings: { maxHeaderListSize: 256 * 1024 } });
  h2Server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    h2Streams++;
    h2Open++;
    stream.once('close', () => { h2Open--; });
    stream.on('error', () => { /* a reset from the sidecar: counted by close */ });
    const path = String(headers[h2.HTTP2_HEADER_PATH] ?? '');
    note(path);
    if (path.startsWith('/big')) {
      // A stream the sidecar already reset (a rapid-reset flood) cannot be answered.
      if (stream.destroyed || stream.closed) return;
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/octet-stream' });
      pump(stream, () => stream.end());
      stream.resume();
      return;
    }
    let bytes = 0;
    stream.on('data', (d: Buffer) => { bytes += d.length; });
    stream.on('end', () => {
      if (stream.destroyed || stream.closed) return;
      stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ protocol: 'h2', method: headers[h2.HTTP2_HEADER_METHOD], path, bytes }));
    });
  });
  h2Server.on('sessionError', () => { /* the session is destroyed; nothing to do */ });

  const h1Server = createHttpServer({ maxHeaderSize: 256 * 1024 }, (req: IncomingMessage, res: ServerResponse) => {
    h1Requests++;
    const path = req.url ?? '';
    note(path);
    if (path.startsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bigBytes) });
      pump(res, () => res.end());
      req.resume();
      return;
    }
    let bytes = 0;
    req.on('data', (d: Buffer) => { bytes += d.length; });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ protocol: 'http/1.1', method: req.method, path, bytes }));
    });
  });
  h1Server.on('clientError', (_err, socket: Socket) => socket.destroy());

  const front = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let head = Buffer.alloc(0);
    const sniff = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, PREFACE.length);
      const isH2 = head.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (isH2 && head.length < PREFACE.length) return;
      socket.off('data', sniff);
      socket.pause();
      socket.unshift(head);
      // Both servers take over the socket's handle and read from it directly; what was already read
      // (the head put back above) reaches them through the socket's own buffer: node:http2 drains it
      // when the session starts, node:http as 'data' once the socket flows again.
      (isH2 ? h2Server : h1Server).emit('connection', socket);
      if (!isH2) socket.resume();
    };
    socket.on('data', sniff);
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  const { port } = front.address() as AddressInfo;

  return {
    address: `127.0.0.1:${port}`, port, paths,
    h2Streams: () => h2Streams,
    h2Open: () => h2Open,
    h1Requests: () => h1Requests,
    bigWritten: () => bigWritten,
    connections: () => connections,
    close: async () => {
      for (const s of sockets) s.destroy();
      front.close();
      h1Server.close();
      h2Server.close();
    },
  };
}
