// How one attempt leaves, by the protocol the request came in: HTTP/1.1 through the endpoint's
// undici pool, HTTP/2 on one of its HTTP/2 sessions with the request line as pseudo-headers. And how
// a gRPC outcome reads for the endpoint's books. The retry loop (proxy-call.ts) decides when.
import type { Dispatcher } from 'undici';
import type { Exchange } from '../proxy/exchange.ts';
import { GRPC, grpcStatusIsFailure } from '../proxy/grpc.ts';
import type { H2Attempt } from '../proxy/h2-attempt.ts';
import type { UpstreamAttempt } from '../proxy/upstream-attempt.ts';
import type { AttemptOutcome, Destination } from '../upstream/endpoint.ts';

export function sendHttp1(attempt: UpstreamAttempt, exchange: Exchange, destination: Destination, perTryMs: number | undefined): void {
  const body = exchange.body;
  const options: Dispatcher.DispatchOptions = {
    method: exchange.method as Dispatcher.HttpMethod,
    path: exchange.path,
    headers: exchange.headers,
    // (A replayed body is HTTP/2's, sent by H2Attempt.)
    body: body.kind === 'buffered' ? body.data : body.kind === 'stream' ? body.stream : null,
  };
  if (destination.origin !== undefined) options.origin = destination.origin;
  if (perTryMs !== undefined) options.headersTimeout = perTryMs;
  try {
    destination.dispatcher.dispatch(options, attempt);
  } catch (err) {
    // undici refuses some requests before sending them (a header it will not send): the
    // client's mistake, answered 400 DPE, never counted against the endpoint.
    attempt.owner.onAttemptFailed(attempt, err as Error, false);
  }
}

/** The HTTP/2 request line goes as pseudo-headers ahead of the rest; Host becomes :authority. */
export function sendH2(attempt: H2Attempt, exchange: Exchange, destination: Destination, perTryMs: number | undefined, peek: boolean): void {
  const list = [':method', exchange.method, ':path', exchange.path, ':scheme', 'http', ':authority', exchange.authority];
  const headers = exchange.headers;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    // HTTP/2 field names arrive lower-case; the ones the sidecar adds are too.
    if (name === 'host') continue;
    list.push(name, headers[i + 1] as string);
  }
  attempt.start(destination.h2, { headers: list, body: exchange.body, perTryMs, peek });
}

/**
 * A gRPC status as the endpoint's books see it (as Linkerd classifies): failures open breakers;
 * RESOURCE_EXHAUSTED is the server shedding load, a signal for the balancer but not a breaker's
 * business; the rest (NOT_FOUND, INVALID_ARGUMENT, ...) are answers.
 */
export function grpcOutcome(status: number): AttemptOutcome {
  if (grpcStatusIsFailure(status)) return 'failed';
  return status === GRPC.RESOURCE_EXHAUSTED ? 'overloaded' : 'succeeded';
}
