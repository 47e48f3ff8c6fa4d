// The app of a test pod, run inside a network namespace as an ordinary uid. Ports:
//   8080  HTTP, the mesh service: every third request answers 503 (a flaky app for retry policies)
//   9091, 9092  HTTP, answering their own port number (ports the interception is told to skip)
//   7000  a server-first TCP protocol: sends a banner, then echoes lines (not HTTP at all)
//   7001  the same, bound to 127.0.0.1 only: private to the pod, never reachable from outside it
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';

let served = 0;
createServer((req, res) => {
  served++;
  req.resume();
  if (served % 3 === 0) {
    res.writeHead(503).end('flaky');
    return;
  }
  res.end(`hello from b (${req.headers['x-petrel-peer'] === undefined ? 'no peer header' : 'peer header leaked'})`);
}).listen(8080, '0.0.0.0');

for (const port of [9091, 9092]) createServer((_req, res) => res.end(String(port))).listen(port, '0.0.0.0');

createTcpServer((socket) => {
  socket.write('PRIVATE\n');
  socket.pipe(socket);
}).listen(7001, '127.0.0.1');

createTcpServer((socket) => {
  socket.write('HELLO petrel-test\n');
  socket.pipe(socket);
}).listen(7000, '0.0.0.0', () => process.stdout.write('pod app listening\n'));
