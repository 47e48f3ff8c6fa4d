// The cluster half of `petrel check`, run by the control plane (it holds the kube client and the
// webhook certificate it serves) and served on GET /v1/checks/kubernetes:
//   CRDs installed          listing each Petrel collection answers (404 is a missing CRD)
//   webhook certificate     the one the webhook server presents is valid for long enough
//   caBundles match         every webhook in both configurations trusts that certificate
//   injector reachable      a TLS call to our own webhook port, verified with the mutating
//                           webhook's caBundle under the Service's DNS name, gets an HTTP answer:
//                           what the API server does, minus the Service routing
// Import lazily: it loads client-node.
import { X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import * as k8s from '@kubernetes/client-node';
import type { CheckResult } from './api-server.ts';
import type { ServingCertificate } from './webhooks/webhook-certificate.ts';

/** A webhook certificate with less than this left fails the check (the bootstrap renews 30 days ahead). */
export const WEBHOOK_CERT_MIN_LEFT_MS = 7 * 24 * 3_600_000;

const CRDS = [
  { group: 'petrel.dev', version: 'v1alpha1', plural: 'resiliencepolicies' },
  { group: 'petrel.dev', version: 'v1alpha1', plural: 'accesspolicies' },
] as const;

export interface KubernetesCheckOptions {
  kc: k8s.KubeConfig;
  /** Undefined when the control plane serves no webhooks. */
  webhook: { certificate: ServingCertificate; host: string; port: number; serverName: string; mutating: string; validating: string } | undefined;
  now?: () => number;
}

export async function kubernetesChecks(o: KubernetesCheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [await crdsInstalled(o.kc)];
  const webhook = o.webhook;
  if (webhook === undefined) {
    results.push({ name: 'webhooks', ok: false, detail: 'this control plane serves no admission webhooks', hint: 'run petrel control with --webhook-port (on by default with --kubernetes)' });
    return results;
  }
  const now = (o.now ?? Date.now)();
  const cert = new X509Certificate(webhook.certificate.certPem);
  const left = Date.parse(cert.validTo) - now;
  results.push(left > WEBHOOK_CERT_MIN_LEFT_MS
    ? { name: 'webhook certificate valid', ok: true, detail: `valid until ${new Date(cert.validTo).toISOString()}` }
    : { name: 'webhook certificate valid', ok: false, detail: left <= 0 ? `expired ${cert.validTo}` : `expires ${cert.validTo}, in less than 7 days`, hint: 'delete the Secret petrel-webhook-tls and restart the control plane: it writes a fresh one and patches the caBundles' });
  const { result, mutatingBundle } = await caBundlesMatch(o.kc, webhook, cert);
  results.push(result);
  results.push(await injectorReachable(webhook, mutatingBundle ?? webhook.certificate.certPem));
  return results;
}

async function crdsInstalled(kc: k8s.KubeConfig): Promise<CheckResult> {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const missing: string[] = [];
  for (const crd of CRDS) {
    try {
      await custom.listClusterCustomObject({ group: crd.group, version: crd.version, plural: crd.plural, limit: 1 });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      missing.push(`${crd.plural}.${crd.group}`);
    }
  }
  return missing.length === 0
    ? { name: 'CRDs installed', ok: true, detail: CRDS.map((c) => `${c.plural}.${c.group}`).join(', ') }
    : { name: 'CRDs installed', ok: false, detail: `missing ${missing.join(', ')}`, hint: 'kubectl apply -k k8s/ (or kubectl apply -f k8s/crd/)' };
}

async function caBundlesMatch(kc: k8s.KubeConfig, webhook: NonNullable<KubernetesCheckOptions['webhook']>, cert: X509Certificate): Promise<{ result: CheckResult; mutatingBundle: string | undefined }> {
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const bundles: { where: string; bundle: string | undefined }[] = [];
  const read = async (kind: 'mutating' | 'validating', name: string) => {
    try {
      const config = kind === 'mutating' ? await admission.readMutatingWebhookConfiguration({ name }) : await admission.readValidatingWebhookConfiguration({ name });
      (config.webhooks ?? []).forEach((w, i) => bundles.push({ where: `${name} webhooks[${i}]`, bundle: w.clientConfig.caBundle }));
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      return false;
    }
  };
  const found = [await read('mutating', webhook.mutating), await read('validating', webhook.validating)];
  const absent = [webhook.mutating, webhook.validating].filter((_, i) => !found[i]);
  const mutatingBundle = bundles.find((b) => b.where.startsWith(webhook.mutating) && b.bundle !== undefined)?.bundle;
  const decoded = mutatingBundle === undefined ? undefined : Buffer.from(mutatingBundle, 'base64').toString();
  if (absent.length > 0) {
    return { result: { name: 'webhook caBundles match', ok: false, detail: `no webhook configuration ${absent.join(', ')}`, hint: 'kubectl apply -k k8s/' }, mutatingBundle: decoded };
  }
  const wrong = bundles.filter((b) => b.bundle === undefined || !trusts(Buffer.from(b.bundle, 'base64').toString(), cert)).map((b) => b.where);
  const result: CheckResult = wrong.length === 0
    ? { name: 'webhook caBundles match', ok: true, detail: `${bundles.length} webhooks trust the serving certificate` }
    : { name: 'webhook caBundles match', ok: false, detail: `caBundle missing or not the serving certificate's issuer: ${wrong.join(', ')}`, hint: 'restart the control plane: it patches its certificate into both webhook configurations' };
  return { result, mutatingBundle: decoded };
}

/** True when a PEM bundle holds the certificate itself or its issuer. */
function trusts(bundlePem: string, cert: X509Certificate): boolean {
  const pems = bundlePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return pems.some((pem) => {
    try {
      const ca = new X509Certificate(pem);
      return ca.fingerprint256 === cert.fingerprint256 || (cert.checkIssued(ca) && cert.verify(ca.publicKey));
    } catch {
      return false;
    }
  });
}

function injectorReachable(webhook: NonNullable<KubernetesCheckOptions['webhook']>, caPem: string): Promise<CheckResult> {
  const name = 'injector reachable';
  return new Promise((resolve) => {
    const req = request({
      host: webhook.host === '0.0.0.0' || webhook.host === '::' ? '127.0.0.1' : webhook.host, port: webhook.port, method: 'POST', path: '/inject',
      // The address dialled is an IP: servername makes TLS verify the Service's name, as the API server does.
      ca: caPem, servername: webhook.serverName, headers: { 'content-type': 'application/json', 'content-length': 2 }, timeout: 3000, agent: false,
    }, (res) => {
      res.resume();
      resolve({ name, ok: true, detail: `https://${webhook.serverName}:${webhook.port}/inject answered ${res.statusCode} over TLS verified with the caBundle` });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', (err) => resolve({ name, ok: false, detail: `${webhook.host}:${webhook.port}: ${err.message}`, hint: 'the mutating webhook cannot be called: check the control plane\'s --webhook-port and the caBundle' }));
    req.end('{}');
  });
}
