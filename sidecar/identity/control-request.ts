// A small JSON POST to the control plane's stream port, over HTTP locally or HTTPS with the mesh
// root pinned (Kubernetes). The bearer credential is re-read for every request: kubelet rotates
// projected ServiceAccount tokens.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

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

export function bearer(control: ControlEndpoint): Record<string, string> {
  let token = control.token;
  if (control.tokenFile !== undefined) {
    try {
      token = readFileSync(control.tokenFile, 'utf8').trim() || token;
    } catch {
      // the last token (or none) is used; the control plane's 401 says what went wrong
    }
  }
  return token === undefined ? {} : { authorization: `Bearer ${token}` };
}

export function postJson(control: ControlEndpoint, path: string, body: unknown): Promise<{ status: number; body: string; retryAfter: string | undefined }> {
  const text = JSON.stringify(body);
  const url = new URL(path, control.url);
  const https = url.protocol === 'https:';
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      headers: { ...bearer(control), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      timeout: TIMEOUT_MS,
      ...(https ? { ca: control.ca, minVersion: 'TLSv1.2' as const } : {}),
    };
    const req = (https ? httpsRequest : httpRequest)(url, options, (res) => {
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
