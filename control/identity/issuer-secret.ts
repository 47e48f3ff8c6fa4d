// In Kubernetes the issuer lives in the Secret petrel-identity-issuer in the control plane's
// namespace, so every replica signs with the same key and a restart keeps the mesh's root. The first
// replica to start creates it; a race between replicas ends in one 409, and the loser reads the
// winner's (the pattern of webhooks/webhook-bootstrap.ts). A Secret that holds something unusable
// stops the start with its name: silently replacing it would split the mesh into two roots.
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { generateIssuer, issuerFromPem, type Issuer } from './issuer.ts';

export const ISSUER_SECRET = 'petrel-identity-issuer';

export interface IssuerSecretOptions {
  namespace: string;
  trustDomain: string;
  log: Logger;
  secretName?: string;
  now?: () => Date;
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

export async function bootstrapIssuerSecret(kc: k8s.KubeConfig, o: IssuerSecretOptions): Promise<Issuer> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = o.secretName ?? ISSUER_SECRET;
  const where = `secret ${o.namespace}/${name}`;
  const read = async (): Promise<k8s.V1Secret | undefined> => {
    try {
      return await core.readNamespacedSecret({ name, namespace: o.namespace });
    } catch (err) {
      if (statusCode(err) === 404) return undefined;
      throw err;
    }
  };
  const fromSecret = (secret: k8s.V1Secret): Issuer => {
    const data = secret.data ?? {};
    // ca.crt/ca.key as we write them; tls.crt/tls.key when cert-manager manages the Secret.
    const [certKey, keyKey] = data['ca.key'] !== undefined ? ['ca.crt', 'ca.key'] : ['tls.crt', 'tls.key'];
    const cert = data[certKey];
    const key = data[keyKey];
    if (cert === undefined || key === undefined) throw new Error(`${where} holds neither ca.crt/ca.key nor tls.crt/tls.key; delete it to let the control plane create one`);
    return issuerFromPem(Buffer.from(cert, 'base64').toString(), Buffer.from(key, 'base64').toString(), where);
  };

  const existing = await read();
  if (existing !== undefined) return fromSecret(existing);
  const fresh = await generateIssuer(o.trustDomain, (o.now ?? (() => new Date()))());
  const body: k8s.V1Secret = {
    apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
    metadata: { name, namespace: o.namespace, labels: { 'app.kubernetes.io/part-of': 'petrel' } },
    data: { 'ca.crt': Buffer.from(fresh.certPem).toString('base64'), 'ca.key': Buffer.from(fresh.keyPem).toString('base64') },
  };
  try {
    await core.createNamespacedSecret({ namespace: o.namespace, body });
    o.log.info({ secret: `${o.namespace}/${name}` }, 'mesh issuer created');
    return fresh;
  } catch (err) {
    // Another replica created it first: sign with theirs, or the mesh would have two roots.
    if (statusCode(err) !== 409) throw err;
    const winner = await read();
    if (winner === undefined) throw new Error(`${where} was created by another replica and then deleted; restart to create it again`);
    o.log.info({ secret: `${o.namespace}/${name}` }, 'mesh issuer read from the replica that created it');
    return fromSecret(winner);
  }
}
