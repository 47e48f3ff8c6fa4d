// Is a redirected connection HTTP? Decided from its first bytes: the HTTP/2 connection preface, or
// an HTTP/1.x request line (a method token and a space). Anything else (a TLS ClientHello, a
// database handshake) is passed through as opaque TCP. Protocols where the server speaks first send
// nothing, so detection also ends after a timeout (connection-interceptor.ts) and treats silence as
// opaque.

export type Detected = 'http1' | 'h2' | 'opaque' | 'need-more';

/** RFC 9113 §3.4: every HTTP/2 connection with prior knowledge opens with these 24 bytes. */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Whether the bytes so far open the HTTP/2 preface: decided on its first 4 bytes ("PRI ", a method
 * no HTTP/1.1 request uses); nghttp2 checks the rest. 'maybe' while fewer bytes have arrived.
 */
export function isPrefaceStart(bytes: Buffer): 'yes' | 'no' | 'maybe' {
  const n = Math.min(bytes.length, 4);
  for (let i = 0; i < n; i++) if (bytes[i] !== H2_PREFACE[i]) return 'no';
  return n === 4 ? 'yes' : 'maybe';
}

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
      // "PRI * HTTP/2.0" is the HTTP/2 preface.
      return i === 3 && isPrefaceStart(bytes) === 'yes' ? 'h2' : 'http1';
    }
    if (!isTokenUpper(byte)) return 'opaque';
  }
  return bytes.length > MAX_METHOD_LENGTH ? 'opaque' : 'need-more';
}
