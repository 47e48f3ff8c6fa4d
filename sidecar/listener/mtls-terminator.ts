// Terminates mesh mTLS on the inbound listener. The interceptor hands over each connection whose
// first byte is a TLS handshake (0x16), and this one tls.Server (never listening itself) runs the
// handshake: TLS 1.3, a client certificate required and verified against the mesh roots, ALPN h2 or
// http/1.1. The verified peer identity is recorded once per connection, and the plaintext side goes
// to the HTTP/2 or HTTP/1.1 server by the protocol ALPN chose. A renewed certificate or a new trust
// bundle is swapped in with setSecureContext: connections already open keep theirs.
import type { Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import { identityOfCertificate, type PeerIdentity } from '../identity/spiffe.ts';
import { MESH_TLS_VERSION } from '../identity/mesh-tls.ts';
import { handshakeReason, type TlsObserver } from '../upstream/tls-dial.ts';
import { OPAQUE_ALPN } from '../interception/opaque-tcp.ts';
import { redirectedDestination } from '../interception/connection-interceptor.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';

const peers = new WeakMap<Socket, PeerIdentity>();

/** The verified identity of the sidecar on the other end of a connection; undefined for plaintext. */
export function meshPeer(socket: Socket): PeerIdentity | undefined {
  return peers.get(socket);
}

export interface MtlsTerminatorOptions {
  /** A connection whose handshake has not finished by then is closed. */
  handshakeTimeoutMs: number;
  /** Serves the decrypted connection by its ALPN protocol. */
  h2(socket: TLSSocket): void;
  http1(socket: TLSSocket): void;
  /** Opaque TCP another sidecar carries (ALPN petrel-tcp/1), with where its app was connecting. */
  opaque(socket: TLSSocket, destination: OriginalDestination | undefined): void;
  observer: TlsObserver | undefined;
}

export class MtlsTerminator {
  readonly #o: MtlsTerminatorOptions;
  #server: Server | undefined;
  /**
   * Where each connection being handshaken was redirected from, by its client address: the TLS
   * socket the server makes does not expose the TCP socket it wraps (where the interceptor recorded it).
   */
  readonly #destinations = new Map<string, OriginalDestination>();

  constructor(options: MtlsTerminatorOptions) {
    this.#o = options;
  }

  /** Whether it can terminate: a certificate has been installed. */
  get ready(): boolean {
    return this.#server !== undefined;
  }

  /** Installs the first or a renewed certificate and bundle. */
  update(context: SecureContextOptions): void {
    if (this.#server !== undefined) {
      this.#server.setSecureContext(context);
      return;
    }
    const o = this.#o;
    const server = createServer({
      ...context,
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2', 'http/1.1', OPAQUE_ALPN],
      minVersion: MESH_TLS_VERSION,
      handshakeTimeout: o.handshakeTimeoutMs,
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      const cert = socket.getPeerX509Certificate();
      const identity = cert === undefined ? undefined : identityOfCertificate(cert);
      if (identity === undefined) {
        // Signed by a mesh root but naming no mesh identity: not a sidecar's certificate.
        const err = new Error(`client certificate names no SPIFFE identity (SAN ${cert?.subjectAltName ?? 'none'})`);
        o.observer?.handshakeFailed('inbound', 'wrong identity', `${socket.remoteAddress}:${socket.remotePort}`, err);
        socket.destroy();
        return;
      }
      peers.set(socket, identity);
      o.observer?.handshake('inbound');
      if (socket.alpnProtocol === 'h2') o.h2(socket);
      else if (socket.alpnProtocol === OPAQUE_ALPN) o.opaque(socket, this.#destinations.get(clientKey(socket)));
      else o.http1(socket);
    });
    server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      // Node checks the client's certificate itself after OpenSSL's handshake and, refusing it,
      // destroys the socket: the error is then a bare "socket hang up" and the reason is only in
      // authorizationError (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, ...).
      const refused = socket.authorizationError;
      const cause = refused === undefined || refused === null ? err
        : Object.assign(new Error(`client certificate refused: ${String(refused)}`), { code: String(refused) });
      o.observer?.handshakeFailed('inbound', handshakeReason(cause), `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, cause);
    });
    this.#server = server;
  }

  /** Runs the handshake on a connection whose first bytes (unshifted back) are a ClientHello. */
  terminate(socket: Socket): void {
    if (this.#server === undefined) {
      socket.destroy();
      return;
    }
    const destination = redirectedDestination(socket);
    if (destination !== undefined) {
      const key = clientKey(socket);
      this.#destinations.set(key, destination);
      socket.once('close', () => this.#destinations.delete(key));
    }
    this.#server.emit('connection', socket);
  }
}

function clientKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? ''}`;
}
