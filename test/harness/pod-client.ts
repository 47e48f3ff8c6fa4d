// A client inside a test pod: plain node:http and node:net, no proxy settings, so whatever reaches
// a sidecar got there through iptables. Prints one JSON result on stdout.
//   pod-client.ts get URL [COUNT]      -> {"statuses":[...],"bodies":[...]}
//   pod-client.ts post URL COUNT BODY  -> {"statuses":[...],"bodies":[...]}  (COUNT POSTs of BODY, one after another)
//   pod-client.ts tcp HOST PORT LINE   -> {"received":"..."}  (reads a banner, sends LINE, reads the echo)
import { request, Agent } from 'node:http';
import { connect } from 'node:net';

const [mode, ...args] = process.argv.slice(2);

function get(url: string, agent: Agent, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const method = body === undefined ? 'GET' : 'POST';
    const headers = body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) };
    const req = request(url, { agent, timeout: 10_000, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

if (mode === 'get') {
  const [url, count = '1'] = args;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const results = [];
  for (let i = 0; i < Number(count); i++) results.push(await get(url!, agent));
  agent.destroy();
  process.stdout.write(JSON.stringify({ statuses: results.map((r) => r.status), bodies: results.map((r) => r.body) }));
} else if (mode === 'post') {
  const [url, count, body] = args;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const results = [];
  for (let i = 0; i < Number(count); i++) results.push(await get(url!, agent, body ?? ''));
  agent.destroy();
  process.stdout.write(JSON.stringify({ statuses: results.map((r) => r.status), bodies: results.map((r) => r.body) }));
} else if (mode === 'tcp') {
  const [host, port, line] = args;
  const socket = connect({ host: host!, port: Number(port) });
  let received = '';
  const timer = setTimeout(() => socket.destroy(new Error(`timeout, received so far: ${JSON.stringify(received)}`)), 10_000);
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
    if (received.split('\n').length === 2) socket.write(`${line}\n`);
    if (received.split('\n').length === 3) socket.end();
  });
  socket.on('error', (err) => { process.stderr.write(String(err)); process.exit(1); });
  socket.on('close', () => {
    clearTimeout(timer);
    process.stdout.write(JSON.stringify({ received }));
  });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
