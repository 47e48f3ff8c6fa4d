// The validating admission webhook for ResiliencePolicy, AccessPolicy, HTTPRoute and GRPCRoute: AdmissionReview v1 in,
// AdmissionReview v1 out, judged by the same schema and semantic checks as `petrel validate` and the sidecar. The
// message names every field path and what was expected, so `kubectl apply` prints it.
import { validateAccessPolicyDocument, validateGrpcRouteDocument, validateHttpRouteDocument, validatePolicyDocument, type ValidationIssue } from '../../api/validate.ts';

/** Whether an HTTPRoute or GRPCRoute names a Service among its parents: a route only for Gateways is not Petrel's to judge. */
function attachesToService(route: unknown): boolean {
  const refs = (route as { spec?: { parentRefs?: unknown } } | null | undefined)?.spec?.parentRefs;
  return Array.isArray(refs) && refs.some((r) => (r as { group?: unknown; kind?: unknown } | null)?.group === '' && (r as { kind?: unknown }).kind === 'Service');
}

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
  // The object's own kind decides (the webhook is registered for every such resource); anything else
  // is judged as a ResiliencePolicy, whose schema then names the wrong kind.
  const kind = (request.object as { kind?: unknown } | null | undefined)?.kind;
  let issues: ValidationIssue[];
  if (kind === 'AccessPolicy') issues = validateAccessPolicyDocument(request.object);
  else if (kind === 'HTTPRoute' || kind === 'GRPCRoute') {
    // Routes are the whole cluster's: one attached only to Gateways belongs to another
    // controller, and refusing it would break that controller's routes.
    if (!attachesToService(request.object)) return allow();
    issues = kind === 'HTTPRoute' ? validateHttpRouteDocument(request.object) : validateGrpcRouteDocument(request.object);
  } else issues = validatePolicyDocument(request.object);
  if (issues.length === 0) return allow();
  const label = kind === 'AccessPolicy' || kind === 'HTTPRoute' || kind === 'GRPCRoute' ? kind : 'ResiliencePolicy';
  const message = `${label} rejected: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: request.uid, allowed: false, status: { code: 422, reason: 'Invalid', message } },
  };
}
