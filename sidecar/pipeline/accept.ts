// The accept step both listeners share: header hygiene into the exchange, and the checks that make
// a request the client's own mistake (answered 400 DPE, never charged to an endpoint).
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { upstreamHeaders, versionProblem } from '../proxy/headers.ts';
import { requestTarget, type RequestTarget } from '../routing/request-target.ts';

/** Where the request goes (its origin-form path set on the exchange), or why it cannot be read. */
export function acceptRequest(exchange: Exchange, upgrade: boolean): RequestTarget | ProxyError {
  const req = exchange.req;
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
