// Responses the sidecar makes itself: `petrel-error: <flag>` and {"error": flag, "message": ...},
// on a ServerResponse or, for Upgrade and CONNECT requests that own their socket, written raw.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { FLAGS, type Flag } from './flags.ts';

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
