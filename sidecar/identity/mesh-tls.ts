// The TLS side of the sidecar's identity: one server context for the inbound listener and, per
// identity a caller expects, one set of client options for the pools. Both are rebuilt only when the
// certificate or the trust bundle changes (each change is a new generation, part of the pool keys, so
// a renewal gets new pools while requests in flight finish on the old ones). Node's default server
// identity check reads DNS names and IP addresses only; ours reads the SPIFFE URI SAN.
import { createSecureContext, type ConnectionOptions, type PeerCertificate, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { Credentials } from './certificate-request.ts';
import { meshServerName, parseSpiffe, uriSans, type PeerIdentity } from './spiffe.ts';

/** What a pool dials an endpoint's sidecar with. */
export interface ClientTls {
  /** Part of the pool key: the generation and the expected identity. */
  readonly key: string;
  readonly expected: PeerIdentity;
  /** tls.connect options without host, port and ALPN (each pool sets its protocol). */
  readonly options: ConnectionOptions;
}

/** Mesh TLS is TLS 1.3 only. */
export const MESH_TLS_VERSION = 'TLSv1.3';

/** An error from our identity check, with a stable code for the handshake-error metric. */
export class PeerIdentityError extends Error {
  readonly code = 'ERR_PETREL_PEER_IDENTITY';
}

/** Checks that the callee's certificate names exactly the identity the snapshot lists for it. */
export function checkPeerIdentity(expected: PeerIdentity) {
  return (_host: string, cert: PeerCertificate): Error | undefined => {
    const uris = uriSans(cert.subjectaltname);
    if (uris.length === 1 && uris[0] === expected.uri) return undefined;
    const got = uris.length === 0 ? 'no URI SAN' : uris.join(', ');
    return new PeerIdentityError(`the peer presented ${got}, but this endpoint must be ${expected.uri}`);
  };
}

export class MeshTls {
  #credentials: Credentials | undefined;
  #bundle: readonly string[] = [];
  #roots: string[] = [];
  #generation = 0;
  #server: SecureContextOptions | undefined;
  #clientContext: SecureContext | undefined;
  readonly #clients = new Map<string, ClientTls>();

  get credentials(): Credentials | undefined {
    return this.#credentials;
  }

  /** Bumped on every change of certificate or roots. */
  get generation(): number {
    return this.#generation;
  }

  /** The roots peers are verified against: the snapshot's bundle and the CA's answer, deduplicated. */
  get roots(): readonly string[] {
    return this.#roots;
  }

  /** A new certificate; returns true (always a change). */
  setCredentials(credentials: Credentials): boolean {
    this.#credentials = credentials;
    this.#rebuild();
    return true;
  }

  /** The snapshot's trust bundle; returns whether it changed anything. */
  setBundle(roots: readonly string[] | undefined): boolean {
    const next = roots ?? [];
    if (next.length === this.#bundle.length && next.every((r, i) => r === this.#bundle[i])) return false;
    this.#bundle = next;
    if (this.#credentials !== undefined) this.#rebuild();
    return this.#credentials !== undefined;
  }

  /** Options for the inbound tls.Server (setSecureContext takes the same). Undefined without a certificate. */
  serverOptions(): SecureContextOptions | undefined {
    return this.#server;
  }

  /** Client options for dialling a sidecar that must be `expectedUri`; undefined without a certificate. */
  client(expectedUri: string): ClientTls | undefined {
    const context = this.#clientContext;
    if (context === undefined) return undefined;
    let entry = this.#clients.get(expectedUri);
    if (entry === undefined) {
      const expected = parseSpiffe(expectedUri);
      if (expected === undefined) return undefined;
      entry = {
        key: `tls${this.#generation}:${expectedUri}`,
        expected,
        options: {
          secureContext: context,
          servername: meshServerName(expected),
          checkServerIdentity: checkPeerIdentity(expected),
          minVersion: MESH_TLS_VERSION,
          rejectUnauthorized: true,
        },
      };
      this.#clients.set(expectedUri, entry);
    }
    return entry;
  }

  #rebuild(): void {
    const credentials = this.#credentials;
    if (credentials === undefined) return;
    this.#generation++;
    this.#roots = [...new Set([...credentials.roots, ...this.#bundle])];
    const options: SecureContextOptions = { key: credentials.keyPem, cert: credentials.certPem, ca: this.#roots, minVersion: MESH_TLS_VERSION };
    this.#server = options;
    this.#clientContext = createSecureContext(options);
    this.#clients.clear();
  }
}
