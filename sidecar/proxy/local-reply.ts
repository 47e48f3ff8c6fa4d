// Responses the sidecar makes itself: `petrel-error: <flag>` and {"error": flag, "message": ...}.
import type { ServerResponse } from 'node:http';
import { FLAGS, type Flag } from './flags.ts';

export const ERROR_HEADER = 'petrel-error';

export function localReply(
  res: ServerResponse, flag: Flag, message: string, status: number = FLAGS[flag].status,
  requestId?: string, extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent || res.destroyed) {
    // Too late for a well-formed answer: the client sees the stream cut instead of a truncated body.
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: flag, code: FLAGS[flag].code, message });
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    [ERROR_HEADER]: flag,
    ...extraHeaders,
  };
  if (requestId !== undefined) headers['x-request-id'] = requestId;
  res.writeHead(status, headers);
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
