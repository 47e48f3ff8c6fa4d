// An app for a test pod that has TLS of its own: on HTTP_PORT it serves plaintext HTTP/1.1 and, when
// a connection opens with a TLS handshake record (0x16), HTTPS on its own certificate; on TLS_PORT
// HTTPS only. Every accepted connection and every request is one JSON line on stdout, so a test can
// tell whether anything reached it at all; each reply is the request's JSON, which names the port,
// whether the app itself terminated TLS and the SNI its TLS server received (null: none).
//   pod-tls-app.ts HTTP_PORT TLS_PORT CERT_FILE KEY_FILE
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

const [httpPort, tlsPort, certFile, keyFile] = process.argv.slice(2);
const cert = readFileSync(certFile!);
const key = readFileSync(keyFile!);

const log = (entry: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(entry)}\n`);

function handler(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => { body += d; });
  req.on('end', () => {
    const socket = req.socket as Partial<TLSSocket>;
    const tls = socket.encrypted === true;
    const seen = {
      event: 'request', app: 'pod-tls-app', port: req.socket.localPort, tls,
      servername: tls ? (socket.servername || null) : null, method: req.method, path: req.url, body,
    };
    log(seen);
    const reply = JSON.stringify(seen);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(reply) }).end(reply);
  });
}

const http = createHttpServer(handler);
const https = createHttpsServer({ cert, key }, handler);

// The app port: the first byte picks plaintext HTTP or the app's own TLS.
const sniffing = createTcpServer((socket: Socket) => {
  log({ event: 'connection', port: socket.localPort });
  socket.on('error', () => socket.destroy());
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    socket.unshift(chunk);
    if (chunk[0] === 0x16) https.emit('connection', socket);
    else {
      http.emit('connection', socket);
      socket.resume();
    }
  });
});
const tlsOnly = createHttpsServer({ cert, key }, handler);
tlsOnly.on('connection', (socket: Socket) => log({ event: 'connection', port: socket.localPort }));

let listening = 0;
const up = () => { if (++listening === 2) process.stdout.write('tls app listening\n'); };
sniffing.listen(Number(httpPort), '0.0.0.0', up);
tlsOnly.listen(Number(tlsPort), '0.0.0.0', up);
