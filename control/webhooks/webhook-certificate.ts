// The admission webhooks' serving certificate: self-signed for the control-plane Service's DNS
// names, so the one certificate is also the caBundle the API server trusts. Keys come from Node's
// crypto (fast); node-forge only writes the X.509 structure, which Node cannot.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface ServingCertificate {
  certPem: string;
  keyPem: string;
}

/** Regenerate when less than this much validity is left. */
export const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export function generateServingCertificate(dnsNames: string[], now: Date, validDays = 365): ServingCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60 * 1000); // clock skew between nodes
  cert.validity.notAfter = new Date(now.getTime() + validDays * 24 * 3600 * 1000);
  const subject = [{ name: 'commonName', value: dnsNames[0] ?? 'petrel-control' }, { name: 'organizationName', value: 'petrel' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: dnsNames.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** Whether a certificate covers the names and stays valid past the renewal margin. */
export function certificateUsable(certPem: string, dnsNames: string[], now: Date): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const names = (cert.subjectAltName ?? '').split(',').map((n) => n.trim().replace(/^DNS:/, ''));
    return dnsNames.every((n) => names.includes(n)) && new Date(cert.validTo).getTime() - now.getTime() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}
