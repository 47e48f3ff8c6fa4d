// Requests to the control plane's stream port (the config stream, ACKs, certificates): HTTP
// locally, HTTPS with the mesh root pinned in Kubernetes (never the system store). The bearer
// credential is re-read for every request: kubelet rotates projected ServiceAccount tokens, and a
// token read once at start expires (1 h) while the sidecar lives on.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Logger } from 'pino';

export interface ControlEndpoint {
  /** http(s)://host:15010 */
  readonly url: string;
  /** The shared secret or token, when no file. */
  readonly token: string | undefined;
  readonly tokenFile: string | undefined;
  /** PEM roots to trust for an https control URL (pinned: the system store is not used). */
  readonly ca: string | undefined;
}

/** Largest reply read: a certificate and a few roots. */
const MAX_REPLY_BYTES = 256 * 1024;
const TIMEOUT_MS = 10_000;

/** The authorization header: the token file's current content, else the token given at start. */
export function bearer(control: ControlEndpoint, log?: Logger): Record<string, string> {
  let token = control.token;
  if (control.tokenFile !== undefined) {
    try {
      token = readFileSync(control.tokenFile, 'utf8').trim() || token;
    } catch (err) {
      // The last token (or none) is used; the control plane's 401 says what went wrong.
      log?.warn({ err, file: control.tokenFile }, 'could not re-read the token file; using the last token');
    }
  }
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

/** An http or https request to the control plane; https pins `control.ca`. */
export function controlRequest(control: ControlEndpoint, url: URL, options: RequestOptions, callback: (res: IncomingMessage) => void): ClientRequest {
  if (url.protocol !== 'https:') return httpRequest(url, options, callback);
  return httpsRequest(url, { ...options, ca: control.ca }, callback);
}

export function postJson(control: ControlEndpoint, path: string, body: unknown): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      headers: { ...bearer(control), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      timeout: TIMEOUT_MS,
    };
    const req = controlRequest(control, new URL(path, control.url), options, (res) => {
      let received = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        received += chunk;
        if (received.length > MAX_REPLY_BYTES) res.destroy(new Error(`reply larger than ${MAX_REPLY_BYTES} bytes`));
      });
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, body: received, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(text);
  });
}
