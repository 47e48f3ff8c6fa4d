// Is a redirected connection HTTP/1.x? Decided from its first bytes: a request line starts with a
// method token and a space. Anything else (a TLS ClientHello, a database handshake, the HTTP/2
// preface) is passed through as opaque TCP. Protocols where the server speaks first send nothing,
// so detection also ends after a timeout (connection-interceptor.ts) and treats silence as opaque.

export type Detected = 'http1' | 'opaque' | 'need-more';

/** Longest method we wait for before deciding ("OPTIONS", "CONNECT", WebDAV's "PROPPATCH"). */
const MAX_METHOD_LENGTH = 16;

function isTokenUpper(byte: number): boolean {
  return (byte >= 65 && byte <= 90) || byte === 45 || byte === 95; // A-Z, "-", "_"
}

export function detectProtocol(bytes: Buffer): Detected {
  const limit = Math.min(bytes.length, MAX_METHOD_LENGTH + 1);
  for (let i = 0; i < limit; i++) {
    const byte = bytes[i]!;
    if (byte === 32) {
      if (i === 0) return 'opaque';
      // "PRI * HTTP/2.0" is the HTTP/2 preface: not ours to parse.
      return i === 3 && bytes.toString('latin1', 0, 3) === 'PRI' ? 'opaque' : 'http1';
    }
    if (!isTokenUpper(byte)) return 'opaque';
  }
  return bytes.length > MAX_METHOD_LENGTH ? 'opaque' : 'need-more';
}
