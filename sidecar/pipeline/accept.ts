// The accept step both listeners share: header hygiene into the exchange, and the checks that make
// a request the client's own mistake (answered 400 DPE, never charged to an endpoint). HTTP/1.1
// and HTTP/2 requests end up the same here: flat upstream headers, an origin-form path and an
// authority to route by.
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { upstreamHeaders, versionProblem } from '../proxy/headers.ts';
import { requestTarget, type RequestTarget } from '../routing/request-target.ts';

/** Where the request goes (its origin-form path set on the exchange), or why it cannot be read. */
export function acceptRequest(exchange: Exchange, upgrade: boolean): RequestTarget | ProxyError {
  const h2 = exchange.h2;
  if (h2 !== undefined) return acceptStream(exchange);
  const req = exchange.req!;
  const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress, upgrade);
  exchange.prepare(up);
  const problem = up.problem
    ?? versionProblem(req.httpVersion, req.headers['transfer-encoding'] !== undefined)
    ?? (upgrade && up.hasBody ? 'an Upgrade request must not carry a body' : undefined);
  if (problem !== undefined) return new ProxyError('DPE', problem);
  const target = requestTarget(exchange.path, req.headers.host);
  if (typeof target === 'string') return new ProxyError('DPE', target);
  exchange.path = target.path;
  return target;
}

/**
 * An HTTP/2 stream. nghttp2 has already refused what HTTP/2 forbids (connection-specific headers,
 * a missing :method or :path, uppercase names); what is left is routing by :authority (or Host, as
 * RFC 9113 §8.3.1 allows) and the methods this proxy does not carry over HTTP/2.
 */
function acceptStream(exchange: Exchange): RequestTarget | ProxyError {
  const h2 = exchange.h2!;
  const up = upstreamHeaders(h2.rawHeaders, h2.socket.remoteAddress, false);
  exchange.prepare(up);
  exchange.hasBody = !h2.endStream;
  if (up.problem !== undefined) return new ProxyError('DPE', up.problem);
  if (exchange.method === 'CONNECT') return new ProxyError('DPE', 'CONNECT over HTTP/2 is not supported; use HTTP/1.1 CONNECT');
  const target = requestTarget(exchange.path, exchange.authority || undefined);
  if (typeof target === 'string') return new ProxyError('DPE', target);
  exchange.path = target.path;
  return target;
}
