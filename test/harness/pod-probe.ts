// One connection made from inside a test pod, with no proxy settings (whether a sidecar sees it is up
// to iptables and the uid it runs as). Prints one JSON result on stdout.
//   pod-probe.ts tls HOST PORT SNI|- CA_FILE|- PATH
//       TLS (SNI `-`: none sent) trusting only CA_FILE (`-`: no check at all), then GET PATH over it:
//       {"authorized","fingerprint256","subjectaltname","status","body"}, or, when the connection
//       fails after the handshake (a server that wants a client certificate), the server's
//       certificate and {"error"}
//   pod-probe.ts http HOST PORT PATH     one plaintext GET: {"status","headers","body"}
//   pod-probe.ts raw HOST PORT TEXT      sends TEXT, reads until the server closes (5 s at most):
//       {"received","ending":"end"|"reset"|"timeout"}
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';

const [mode, host, port, ...rest] = process.argv.slice(2);
let printed = false;
/** Prints the one result (a failing TLS connection can report both an error and its end). */
const out = (result: unknown) => { if (!printed) process.stdout.write(JSON.stringify(result)); printed = true; };
const fail = (err: unknown) => { process.stderr.write(String(err)); process.exit(1); };

if (mode === 'tls') {
  const [sni, caFile, path] = rest;
  const socket = connectTls({
    host: host!, port: Number(port), ...(caFile === '-' ? { rejectUnauthorized: false } : { ca: readFileSync(caFile!) }),
    ...(sni === '-' ? {} : { servername: sni! }),
    ALPNProtocols: ['http/1.1'],
  });
  let response = '';
  let peer: { fingerprint256: string; subjectaltname: string } | undefined;
  socket.setTimeout(10_000, () => socket.destroy(new Error(`timeout, received so far: ${JSON.stringify(response)}`)));
  socket.on('error', (err: NodeJS.ErrnoException) => {
    if (peer === undefined) fail(err);
    else out({ authorized: socket.authorized, ...peer, error: err.code ?? String(err) });
  });
  socket.once('secureConnect', () => {
    const cert = socket.getPeerCertificate();
    peer = { fingerprint256: cert.fingerprint256, subjectaltname: cert.subjectaltname ?? '' };
    socket.write(`GET ${path} HTTP/1.1\r\nhost: app.example\r\nconnection: close\r\n\r\n`);
  });
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => { response += d; });
  socket.on('end', () => {
    const [head = '', body = ''] = response.split('\r\n\r\n');
    out({ authorized: socket.authorized, ...peer, status: Number(head.split(' ')[1]), body });
  });
} else if (mode === 'http') {
  const [path] = rest;
  const req = request({ host, port: Number(port), path, agent: false, timeout: 10_000 }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => { body += d; });
    res.on('end', () => out({ status: res.statusCode, headers: res.headers, body }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', fail);
  req.end();
} else if (mode === 'raw') {
  const [text] = rest;
  const socket = connectTcp({ host: host!, port: Number(port) });
  let received = '';
  let ending = 'end';
  const timer = setTimeout(() => { ending = 'timeout'; socket.destroy(); }, 5_000);
  socket.setEncoding('utf8');
  socket.on('connect', () => socket.write(text!));
  socket.on('data', (d: string) => { received += d; });
  socket.on('error', (err: NodeJS.ErrnoException) => { ending = err.code === 'ECONNRESET' ? 'reset' : `error ${err.code ?? String(err)}`; });
  socket.on('close', () => { clearTimeout(timer); out({ received, ending }); });
} else {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}
