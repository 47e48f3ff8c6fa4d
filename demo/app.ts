// The demo's apps, run as separate processes by demo.ts:
//   node app.js payments PORT        a payment service whose failure rate /__chaos can change
//   node app.js web PORT OUTBOUND    a web front end that calls payments through its sidecar
//   node app.js ledger PORT POD ok|unavailable
//                                    a gRPC service (h2c) whose pod answers every call, or fails every
//                                    call with UNAVAILABLE
import { Agent, createServer, request } from 'node:http';
import { createServer as createH2cServer, type ServerHttp2Stream } from 'node:http2';
import { decodeMessage, encodeMessage, LEDGER_RECORD_PATH, MAX_MESSAGE_BYTES } from './grpc-wire.ts';

const [role, portText, outboundText] = process.argv.slice(2);
const port = Number(portText);

function payments(): void {
  let failRate = 0;
  createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://payments');
    if (url.pathname === '/__chaos') {
      failRate = Number(url.searchParams.get('fail') ?? '0');
      res.end(`fail rate ${failRate}\n`);
      return;
    }
    req.resume();
    const latency = 2 + Math.random() * 8;
    setTimeout(() => {
      if (Math.random() < failRate) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('payments is having a bad day\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ charged: true, id: req.headers['x-request-id'] }));
    }, latency);
  }).listen(port, '127.0.0.1');
}

function web(): void {
  const outbound = Number(outboundText);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  createServer((req, res) => {
    req.resume();
    // The app knows the service by name only; its sidecar finds the endpoints.
    const headers: Record<string, string> = { host: 'payments', 'content-length': '2' };
    const id = req.headers['x-request-id'];
    if (typeof id === 'string') headers['x-request-id'] = id; // propagate the trace of this request
    const call = request({ host: '127.0.0.1', port: outbound, path: '/v1/charge', method: 'POST', agent, headers }, (up) => {
      const chunks: Buffer[] = [];
      up.on('data', (c: Buffer) => chunks.push(c));
      up.on('end', () => {
        const out: Record<string, string> = { 'content-type': 'application/json' };
        const flag = up.headers['petrel-error'];
        if (typeof flag === 'string') out['petrel-error'] = flag;
        res.writeHead(up.statusCode === 200 ? 200 : 502, out);
        res.end(JSON.stringify({ checkout: up.statusCode === 200 ? 'ok' : 'failed', payments: up.statusCode, flag: flag ?? null }));
      });
    });
    call.on('error', (err) => {
      res.writeHead(502);
      res.end(JSON.stringify({ checkout: 'failed', error: err.message }));
    });
    call.end('{}');
  }).listen(port, '127.0.0.1');
}

/** A trailers-only response: the call's status in the response headers, and nothing else. */
function grpcError(stream: ServerHttp2Stream, status: number, message: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(status), 'grpc-message': message }, { endStream: true });
}

/**
 * A minimal unary gRPC server on node:http2 (h2c, as the inbound sidecar speaks to apps), so the demo
 * runs without @grpc/grpc-js. It reads the whole request before it answers, as a unary server does.
 */
function ledger(): void {
  const [pod, mode] = process.argv.slice(4);
  if (pod === undefined || (mode !== 'ok' && mode !== 'unavailable')) usage();
  let recorded = 0;
  const server = createH2cServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_MESSAGE_BYTES + 5) chunks.push(c);
    });
    stream.on('error', () => {}); // a caller that resets its call is no reason to crash
    stream.on('end', () => {
      if (headers[':method'] !== 'POST' || headers[':path'] !== LEDGER_RECORD_PATH) {
        grpcError(stream, 12, `${String(headers[':path'])} is not a method of ledger`); // UNIMPLEMENTED
        return;
      }
      const message = decodeMessage(Buffer.concat(chunks));
      if (message instanceof Error) {
        grpcError(stream, 13, message.message); // INTERNAL
        return;
      }
      if (mode === 'unavailable') {
        grpcError(stream, 14, `${pod} is unavailable`);
        return;
      }
      let amount: unknown;
      try {
        amount = (JSON.parse(message.toString()) as { amount?: unknown }).amount;
      } catch {
        grpcError(stream, 3, 'the request is not a JSON ledger entry'); // INVALID_ARGUMENT
        return;
      }
      const reply = { pod, entry: ++recorded, amount: amount ?? null };
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(encodeMessage(Buffer.from(JSON.stringify(reply))));
    });
  });
  server.listen(port, '127.0.0.1');
}

function usage(): never {
  process.stderr.write('usage: app.js payments PORT | web PORT OUTBOUND_PORT | ledger PORT POD ok|unavailable\n');
  process.exit(2);
}

if (role === 'payments') payments();
else if (role === 'web') web();
else if (role === 'ledger') ledger();
else usage();
