// An app for a test pod that records what reached it: each request's method, path and body as one
// JSON line on stdout, answered 200 with the same JSON (so the reply carries them back too).
//   pod-echo-app.ts [PORT]   (default 8080, on 0.0.0.0)
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 8080);
createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => { body += d; });
  req.on('end', () => {
    const seen = JSON.stringify({ method: req.method, path: req.url, body });
    process.stdout.write(`${seen}\n`);
    res.writeHead(200, { 'content-type': 'application/json' }).end(seen);
  });
}).listen(port, '0.0.0.0', () => process.stdout.write('echo app listening\n'));
