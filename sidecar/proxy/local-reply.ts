// Responses the sidecar makes itself: `petrel-error: <flag>` and {"error": flag, "message": ...},
// on a ServerResponse, on an HTTP/2 stream (trailers-only for gRPC) or, for Upgrade and CONNECT
// requests that own their socket, written raw.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import { constants, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { FLAGS, type Flag } from './flags.ts';
import { encodeGrpcMessage, grpcStatusForFlag } from './grpc.ts';

export const ERROR_HEADER = 'petrel-error';

function body(flag: Flag, message: string): string {
  return JSON.stringify({ error: flag, code: FLAGS[flag].code, message });
}

export function localReply(
  res: ServerResponse, flag: Flag, message: string, status: number = FLAGS[flag].status,
  requestId?: string, extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) {
    // Too late for a well-formed answer: the client sees the stream cut instead of a truncated body.
    res.destroy();
    return;
  }
  const text = body(flag, message);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    [ERROR_HEADER]: flag,
    ...extraHeaders,
  };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  res.writeHead(status, headers);
  res.end(res.req?.method === 'HEAD' ? undefined : text);
}

/** Writes a flagged local reply on a raw socket (no ServerResponse exists for upgrades) and closes it. */
export function rawLocalReply(
  socket: Duplex, flag: Flag, message: string, requestId?: string, status: number = FLAGS[flag].status,
  extraHeaders?: Record<string, string>,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = body(flag, message);
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n${ERROR_HEADER}: ${flag}\r\n`;
  if (requestId !== undefined) head += `x-request-id: ${requestId}\r\n`;
  if (extraHeaders !== undefined) for (const name in extraHeaders) head += `${name}: ${extraHeaders[name]}\r\n`;
  socket.end(`${head}content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
}

/**
 * A flagged local reply on an HTTP/2 stream. A gRPC call gets a trailers-only response (one HEADERS
 * frame with END_STREAM: :status 200, grpc-status mapped from the flag, grpc-message), which every
 * gRPC client reads as the call's status; a plain HTTP/2 request gets the JSON body. When the
 * response has already started, a gRPC call ends with the status in its trailers and anything else
 * is reset: the client sees the stream cut rather than a truncated body.
 */
export function h2LocalReply(
  stream: ServerHttp2Stream, grpc: boolean, flag: Flag, message: string, status: number = FLAGS[flag].status,
  requestId?: string, extraHeaders?: Record<string, string>,
): number | undefined {
  if (stream.destroyed || stream.closed) return undefined;
  if (grpc) {
    const code = grpcStatusForFlag(flag, status);
    const fields: Record<string, string> = { 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(message), [ERROR_HEADER]: flag, ...extraHeaders };
    if (stream.headersSent) endWithTrailers(stream, fields);
    else {
      const head: Record<string, string | number> = { ':status': 200, 'content-type': 'application/grpc', ...fields };
      if (requestId !== undefined) head['x-request-id'] = requestId;
      stream.respond(head, { endStream: true });
    }
    return code;
  }
  if (stream.headersSent) {
    stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    return undefined;
  }
  const text = body(flag, message);
  const head: Record<string, string | number> = {
    ':status': status, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), [ERROR_HEADER]: flag, ...extraHeaders,
  };
  if (requestId !== undefined) head['x-request-id'] = requestId;
  stream.respond(head);
  stream.end(text);
  return undefined;
}

/**
 * Ends a gRPC response whose headers went out (always with waitForTrailers: h2-attempt.ts), with
 * `fields` as its trailers.
 */
export function endWithTrailers(stream: ServerHttp2Stream, fields: Record<string, string>): void {
  stream.once('wantTrailers', () => stream.sendTrailers(fields));
  if (!stream.writableEnded) stream.end();
}
