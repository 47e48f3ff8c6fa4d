// HTTPS admission webhooks on 15017: POST /inject (mutating, pods) and POST /validate (validating,
// ResiliencePolicies). The certificate can be swapped while serving (a renewed Secret).
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { reviewPod } from '../injection/inject-review.ts';
import type { InjectorConfig } from '../injection/injection-config.ts';
import { reviewPolicy, type AdmissionReview } from './validate-policy.ts';
import type { ServingCertificate } from './webhook-certificate.ts';

/** AdmissionReviews carry one object; the API server caps requests at 3 MiB. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface WebhookServerOptions {
  certificate: ServingCertificate;
  /** Read per review: the mesh roots it pins in injected sidecars change with an issuer rotation. */
  injector: () => InjectorConfig;
  log: Logger;
}

export function createWebhookServer(o: WebhookServerOptions): Server {
  const server = createServer({ cert: o.certificate.certPem, key: o.certificate.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    const handler = req.url?.split('?')[0] === '/inject' ? (r: AdmissionReview) => reviewPod(r, o.injector())
      : req.url?.split('?')[0] === '/validate' ? reviewPolicy : undefined;
    if (handler === undefined || req.method !== 'POST') return reply(res, 404, { error: `no webhook at ${req.method ?? ''} ${req.url ?? ''}; POST /inject or /validate` });
    readJson(req).then((review) => handler(review as AdmissionReview)).then((answer) => {
      if (answer.response?.allowed === false) o.log.info({ webhook: req.url, uid: answer.response.uid, message: answer.response.status?.message }, 'admission denied');
      reply(res, 200, answer);
    }, (err: Error) => reply(res, 400, { error: err.message }));
  });
  return server;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`AdmissionReview larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new Error(`the body is not JSON: ${(err as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
