// The baseline the issue measures against: a bare forwarder, node:http in front of an undici Pool,
// no routing, no policy, no metrics. Usage: node bare-undici.js LISTEN_PORT TARGET_ORIGIN
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [portText, target] = process.argv.slice(2);
const pool = new Pool(target as string, { connections: null, keepAliveTimeout: 30_000 });

createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.connection;
  delete headers['keep-alive'];
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers, body: hasBody ? req : null }).then(({ statusCode, headers: h, body }) => {
    delete h.connection;
    delete h['keep-alive'];
    delete h['transfer-encoding'];
    res.writeHead(statusCode, h as Record<string, string>);
    body.pipe(res);
  }, () => {
    res.statusCode = 502;
    res.end();
  });
}).listen(Number(portText), '127.0.0.1');
