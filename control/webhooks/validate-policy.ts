// The validating admission webhook for ResiliencePolicy and AccessPolicy: AdmissionReview v1 in,
// AdmissionReview v1 out, judged by the same schema and semantic checks as `petrel validate` and the sidecar. The
// message names every field path and what was expected, so `kubectl apply` prints it.
import { validateAccessPolicyDocument, validatePolicyDocument } from '../../api/validate.ts';

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request?: { uid: string; operation?: string; object?: unknown; kind?: { kind?: string } };
  response?: { uid: string; allowed: boolean; status?: { code: number; reason?: string; message: string } };
}

export function reviewPolicy(review: AdmissionReview): AdmissionReview {
  const request = review.request;
  if (request === undefined || typeof request.uid !== 'string') {
    throw new Error('not an AdmissionReview request: request.uid is missing');
  }
  const allow = (): AdmissionReview => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, allowed: true } });
  if (request.operation === 'DELETE') return allow();
  // The object's own kind decides (the webhook is registered for both resources); anything else is
  // judged as a ResiliencePolicy, whose schema then names the wrong kind.
  const access = (request.object as { kind?: unknown } | null | undefined)?.kind === 'AccessPolicy';
  const issues = access ? validateAccessPolicyDocument(request.object) : validatePolicyDocument(request.object);
  if (issues.length === 0) return allow();
  const message = `${access ? 'AccessPolicy' : 'ResiliencePolicy'} rejected: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message } },
  };
}
