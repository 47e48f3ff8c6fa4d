// The demo's two apps, run as separate processes by demo.ts:
//   node app.js payments PORT        a payment service whose failure rate /__chaos can change
//   node app.js web PORT OUTBOUND    a web front end that calls payments through its sidecar
import { Agent, createServer, request } from 'node:http';

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

if (role === 'payments') payments();
else if (role === 'web') web();
else {
  process.stderr.write('usage: app.js payments PORT | web PORT OUTBOUND_PORT\n');
  process.exit(2);
}
