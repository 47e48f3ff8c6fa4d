// Where the mesh issuer comes from, in order of precedence:
//   --ca-dir DIR    ca.crt + ca.key (or cert-manager's tls.crt + tls.key); an empty or missing
//                   directory gets a fresh issuer written into it, so a local mesh keeps its root
//                   across restarts
//   --kubernetes    the Secret petrel-identity-issuer, shared by the replicas (issuer-secret.ts)
//   otherwise       a fresh issuer in memory (a local mesh: sidecars re-fetch after a restart)
import type { Logger } from 'pino';
import { generateIssuer, loadIssuerDir, saveIssuerDir, type Issuer } from './issuer.ts';

export interface IssuerSourceOptions {
  caDir: string | undefined;
  kubernetes: { kubeconfig: string | undefined } | undefined;
  namespace: string;
  trustDomain: string;
  log: Logger;
  now: () => number;
}

export async function obtainIssuer(o: IssuerSourceOptions): Promise<Issuer> {
  if (o.caDir !== undefined) {
    const loaded = await loadIssuerDir(o.caDir);
    if (loaded !== undefined) {
      o.log.info({ caDir: o.caDir }, 'mesh issuer loaded from --ca-dir');
      return loaded;
    }
    const fresh = await generateIssuer(o.trustDomain, new Date(o.now()));
    await saveIssuerDir(o.caDir, fresh);
    o.log.info({ caDir: o.caDir }, 'mesh issuer generated and written to --ca-dir (ca.crt, ca.key)');
    return fresh;
  }
  if (o.kubernetes !== undefined) {
    // Loaded only here: the client library is large.
    const { loadKubeConfig } = await import('../kube-config.ts');
    const { bootstrapIssuerSecret } = await import('./issuer-secret.ts');
    return bootstrapIssuerSecret(loadKubeConfig(o.kubernetes.kubeconfig), { namespace: o.namespace, trustDomain: o.trustDomain, log: o.log, now: () => new Date(o.now()) });
  }
  o.log.info('mesh issuer generated in memory (give --ca-dir to keep it across restarts)');
  return generateIssuer(o.trustDomain, new Date(o.now()));
}
