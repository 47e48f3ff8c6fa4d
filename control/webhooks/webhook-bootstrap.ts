// Where the webhook certificate comes from in a cluster: the Secret petrel-webhook-tls in the control
// plane's namespace. The first replica to start creates it (a race between replicas ends in one 409
// and both read the winner's); a certificate near expiry is replaced. Then the certificate is
// patched into both webhook configurations' caBundle, so the API server trusts it.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { CONTROL_SERVICE } from '../injection/injection-config.ts';
import { certificateUsable, generateServingCertificate, serviceDnsNames, type ServingCertificate } from './webhook-certificate.ts';

export interface WebhookBootstrapOptions {
  namespace: string;
  /** The control plane's Service. Default petrel-control. */
  service: string;
  /** Default petrel-webhook-tls. */
  secretName: string;
  mutatingWebhook: string;
  validatingWebhook: string;
  log: Logger;
  now?: () => Date;
}

export const DEFAULT_WEBHOOK_NAMES = { service: CONTROL_SERVICE, secretName: 'petrel-webhook-tls', mutatingWebhook: 'petrel-injector', validatingWebhook: 'petrel-policy-validator' };

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

export async function bootstrapWebhookCertificate(kc: k8s.KubeConfig, o: WebhookBootstrapOptions): Promise<ServingCertificate> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const now = (o.now ?? (() => new Date()))();
  const names = serviceDnsNames(o.service, o.namespace);
  const read = async (): Promise<k8s.V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name: o.secretName, namespace: o.namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  };
  const fromSecret = (secret: k8s.V1Secret | undefined): ServingCertificate | undefined => {
    const cert = secret?.data?.['tls.crt'];
    const key = secret?.data?.['tls.key'];
    if (cert === undefined || key === undefined) return undefined;
    const certificate = { certPem: Buffer.from(cert, 'base64').toString(), keyPem: Buffer.from(key, 'base64').toString() };
    return certificateUsable(certificate.certPem, names, now) ? certificate : undefined;
  };

  const existing = await read();
  let certificate = fromSecret(existing);
  if (certificate === undefined) {
    const fresh = generateServingCertificate(names, now);
    const body: k8s.V1Secret = {
      apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls',
      metadata: { name: o.secretName, namespace: o.namespace, labels: { 'app.kubernetes.io/part-of': 'petrel' }, resourceVersion: existing?.metadata?.resourceVersion },
      data: { 'tls.crt': Buffer.from(fresh.certPem).toString('base64'), 'tls.key': Buffer.from(fresh.keyPem).toString('base64') },
    };
    try {
      if (existing === undefined) await core.createNamespacedSecret({ namespace: o.namespace, body });
      else await core.replaceNamespacedSecret({ name: o.secretName, namespace: o.namespace, body });
      certificate = fresh;
      o.log.info({ secret: `${o.namespace}/${o.secretName}`, names }, existing === undefined ? 'webhook certificate created' : 'webhook certificate renewed');
    } catch (err) {
      // Another replica wrote it first: use theirs.
      if (statusCode(err) !== 409) throw err;
      certificate = fromSecret(await read());
      if (certificate === undefined) throw new Error(`secret ${o.namespace}/${o.secretName} changed under us but holds no usable certificate`);
    }
  }
  await patchCaBundles(kc, o, Buffer.from(certificate.certPem).toString('base64'));
  return certificate;
}

async function patchCaBundles(kc: k8s.KubeConfig, o: WebhookBootstrapOptions, caBundle: string): Promise<void> {
  const admission = kc.makeApiClient(k8s.AdmissionregistrationV1Api);
  const mutating = await admission.readMutatingWebhookConfiguration({ name: o.mutatingWebhook });
  await admission.patchMutatingWebhookConfiguration({
    name: o.mutatingWebhook,
    body: (mutating.webhooks ?? []).map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle })),
  });
  const validating = await admission.readValidatingWebhookConfiguration({ name: o.validatingWebhook });
  await admission.patchValidatingWebhookConfiguration({
    name: o.validatingWebhook,
    body: (validating.webhooks ?? []).map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle })),
  });
  o.log.info({ mutating: o.mutatingWebhook, validating: o.validatingWebhook }, 'caBundle patched into the webhook configurations');
}
