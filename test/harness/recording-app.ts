// An upstream "app" for adversarial tests that records everything it receives: every request
// (method, target, headers, body, whether it completed) and, through a byte-counting TCP tap in
// front of the HTTP server, every raw byte, so a test can assert that NOTHING reached it.
//
// Behaviour by path:
//   /slow20...          answers 200 after 20 ms
//   /big...             streams 50 MiB, respecting backpressure (bigWritten counts what left)
//   /refuse...          with Upgrade: answered 200 as an ordinary response (the app does not switch)
//   anything else       echoes { method, url, headers, bytes } as JSON, 200
// An Upgrade request to any other path is switched (101) and its bytes are echoed upper-cased.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  /** The whole body arrived ('end'); false while streaming or when the request was cut. */
  complete: boolean;
  /** The downstream (the sidecar) went away before the request completed. */
  aborted: boolean;
  upgrade: boolean;
}

export interface RecordingApp {
  /** host:port of the tap, to give to the sidecar as --app and as endpoint. */
  address: string;
  port: number;
  requests: RecordedRequest[];
  /** Raw bytes that arrived from clients (the sidecars) at the tap. */
  bytesIn(): number;
  connections(): number;
  /** Requests the app's own HTTP parser refused (garbage that got through). */
  parseErrors(): number;
  bigWritten(): number;
  paths(): string[];
  close(): Promise<void>;
}

const BIG_BYTES = 50 * 1024 * 1024;

export async function startRecordingApp(): Promise<RecordingApp> {
  const requests: RecordedRequest[] = [];
  let parseErrors = 0;
  let bigWritten = 0;
  const sockets = new Set<Socket>();

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '';
    const record: RecordedRequest = {
      method: req.method ?? '', url, headers: req.headers, rawHeaders: req.rawHeaders, body: '',
      complete: false, aborted: false, upgrade: req.headers.upgrade !== undefined,
    };
    requests.push(record);
    req.on('data', (d: Buffer) => { if (record.body.length < 1_000_000) record.body += d.toString('latin1'); });
    req.on('end', () => { record.complete = true; });
    req.on('aborted', () => { record.aborted = true; });
    req.on('close', () => { if (!record.complete) record.aborted = true; });
    req.on('error', () => { record.aborted = true; });
    if (url.startsWith('/big')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG_BYTES) });
      const piece = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (bigWritten < BIG_BYTES && !res.destroyed) {
          bigWritten += piece.length;
          if (!res.write(piece)) { res.once('drain', pump); return; }
        }
        if (bigWritten >= BIG_BYTES) res.end();
      };
      pump();
      return;
    }
    req.on('end', () => {
      const answer = (): void => {
        if (res.destroyed) return;
        const body = JSON.stringify({ method: req.method, url, headers: req.headers, bytes: record.body.length });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (url.startsWith('/slow20')) setTimeout(answer, 20);
      else answer();
    });
    req.resume();
  };

  const http: Server = createServer({
    // The app answers an Upgrade to /refuse... with an ordinary response and stays HTTP.
    shouldUpgradeCallback: (req: IncomingMessage) => !(req.url ?? '').startsWith('/refuse'),
  } as Parameters<typeof createServer>[0], handler);
  http.on('clientError', (_err, socket: Socket) => { parseErrors++; socket.destroy(); });
  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    requests.push({
      method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '',
      complete: true, aborted: false, upgrade: true,
    });
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${req.headers.upgrade ?? 'x'}\r\n\r\n`);
    if (head.length > 0) socket.write(head.toString('latin1').toUpperCase());
    socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
    socket.on('error', () => socket.destroy());
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const httpPort = (http.address() as AddressInfo).port;

  let bytesIn = 0;
  let connections = 0;
  const tap: TcpServer = createTcpServer((client) => {
    connections++;
    sockets.add(client);
    const upstream = connect(httpPort, '127.0.0.1');
    sockets.add(upstream);
    client.on('data', (d: Buffer) => { bytesIn += d.length; });
    client.pipe(upstream);
    upstream.pipe(client);
    const destroy = (): void => { client.destroy(); upstream.destroy(); };
    client.on('error', destroy);
    upstream.on('error', destroy);
    client.on('close', () => { sockets.delete(client); upstream.end(); });
    upstream.on('close', () => { sockets.delete(upstream); client.end(); });
  });
  tap.listen(0, '127.0.0.1');
  await once(tap, 'listening');
  const port = (tap.address() as AddressInfo).port;

  return {
    address: `127.0.0.1:${port}`, port, requests,
    bytesIn: () => bytesIn,
    connections: () => connections,
    parseErrors: () => parseErrors,
    bigWritten: () => bigWritten,
    paths: () => requests.map((r) => r.url),
    close: async () => {
      for (const s of sockets) s.destroy();
      tap.close();
      http.closeAllConnections();
      http.close();
    },
  };
}
