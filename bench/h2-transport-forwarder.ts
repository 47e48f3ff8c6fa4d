// The measurement behind "should HTTP/1.1 travel between sidecars over HTTP/2?" (Linkerd does it):
// two bare forwarders in a row, as an outbound and an inbound sidecar are, with no policy, so the
// only difference between the runs is the protocol of the middle hop.
//   node h2-transport-forwarder.js front-h1 PORT NEXT   HTTP/1.1 in, undici Pool (HTTP/1.1) out
//   node h2-transport-forwarder.js front-h2 PORT NEXT   HTTP/1.1 in, one node:http2 session out
//   node h2-transport-forwarder.js back-h2 PORT APP     HTTP/2 in, undici Pool (HTTP/1.1) to the app
// (back-h1 is bench/bare-undici.js.)
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createH2Server, type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { Pool } from 'undici';

const [mode, portText, next] = process.argv.slice(2) as [string, string, string];
const port = Number(portText);
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'host']);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) if (!HOP.has(name) && name[0] !== ':') out[name] = headers[name] as string | string[];
  return out;
}

if (mode === 'front-h1') {
  const pool = new Pool(next, { connections: null, keepAliveTimeout: 30_000 });
  createServer((req, res) => {
    pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers: { ...forwardable(req.headers), host: req.headers.host ?? '' }, body: null })
      .then(({ statusCode, headers, body }) => {
        res.writeHead(statusCode, forwardable(headers));
        body.pipe(res);
      }, () => { res.statusCode = 502; res.end(); });
  }).listen(port, '127.0.0.1');
} else if (mode === 'front-h2') {
  let session: ClientHttp2Session | undefined;
  const open = (): ClientHttp2Session => {
    if (session === undefined || session.closed || session.destroyed) {
      session = connect(next, { settings: { initialWindowSize: 1 << 20 } });
      session.on('error', () => {});
    }
    return session;
  };
  createServer((req, res) => {
    const stream = open().request({ ...forwardable(req.headers), ':method': req.method ?? 'GET', ':path': req.url ?? '/', ':authority': req.headers.host ?? '' }, { endStream: true });
    stream.on('response', (headers) => {
      res.writeHead(Number(headers[':status']), forwardable(headers));
      stream.pipe(res);
    });
    stream.on('error', () => { res.statusCode = 502; res.end(); });
  }).listen(port, '127.0.0.1');
} else if (mode === 'back-h2') {
  const pool = new Pool(next, { connections: null, keepAliveTimeout: 30_000 });
  const server = createH2Server({ settings: { initialWindowSize: 1 << 20, maxConcurrentStreams: 1000 } });
  server.on('stream', (stream: ServerHttp2Stream, headers) => {
    pool.request({ path: String(headers[':path']), method: String(headers[':method']) as 'GET', headers: { ...forwardable(headers), host: String(headers[':authority']) }, body: null })
      .then(({ statusCode, headers: h, body }) => {
        stream.respond({ ...forwardable(h), ':status': statusCode });
        body.pipe(stream);
      }, () => stream.respond({ ':status': 502 }, { endStream: true }));
  });
  server.listen(port, '127.0.0.1');
} else {
  process.stderr.write('usage: h2-transport-forwarder.js front-h1|front-h2|back-h2 PORT NEXT_ORIGIN\n');
  process.exit(2);
}
