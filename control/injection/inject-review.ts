// The mutating admission webhook for pods: AdmissionReview v1 in, a JSONPatch out. The webhook
// configuration's selectors decide which pods are sent here (namespace or pod labelled
// petrel.dev/inject: enabled, never the control plane's namespace); this handler still skips pods
// that opt out, use hostNetwork or are already injected, so a second call patches nothing.
import type { AdmissionReview } from '../webhooks/validate-policy.ts';
import { AnnotationError, type InjectorConfig } from './injection-config.ts';
import { decide, injectTemplate, type PodTemplate } from './pod-injector.ts';

interface PatchOp {
  op: 'add';
  path: string;
  value: unknown;
}

export interface PodReviewRequest {
  uid: string;
  operation?: string;
  namespace?: string;
  object?: unknown;
  kind?: { kind?: string };
}

function isPod(value: unknown): value is PodTemplate & { kind?: string } {
  const spec = (value as { spec?: { containers?: unknown } } | undefined)?.spec;
  return typeof value === 'object' && value !== null && Array.isArray(spec?.containers);
}

/** The JSONPatch turning `pod` into `injected`: whole-member "add"s, which replace existing members. */
export function patchFor(pod: PodTemplate, injected: PodTemplate): PatchOp[] {
  const ops: PatchOp[] = [];
  if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: {} });
  ops.push({ op: 'add', path: '/metadata/annotations', value: injected.metadata?.annotations ?? {} });
  ops.push({ op: 'add', path: '/spec/initContainers', value: injected.spec.initContainers });
  ops.push({ op: 'add', path: '/spec/volumes', value: injected.spec.volumes });
  if (injected.spec.terminationGracePeriodSeconds !== pod.spec.terminationGracePeriodSeconds) {
    ops.push({ op: 'add', path: '/spec/terminationGracePeriodSeconds', value: injected.spec.terminationGracePeriodSeconds });
  }
  return ops;
}

export function reviewPod(review: { request?: PodReviewRequest }, config: InjectorConfig): AdmissionReview {
  const request = review.request;
  if (request === undefined || typeof request.uid !== 'string') throw new Error('not an AdmissionReview request: request.uid is missing');
  const respond = (response: Omit<NonNullable<AdmissionReview['response']>, 'uid'> & { patch?: string; patchType?: 'JSONPatch'; warnings?: string[] }): AdmissionReview => ({
    apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: request.uid, ...response },
  });
  if (request.operation !== undefined && request.operation !== 'CREATE') return respond({ allowed: true });
  const pod = request.object;
  if (!isPod(pod)) return respond({ allowed: true, warnings: ['petrel: not a pod with spec.containers; nothing injected'] });
  const decision = decide(pod, undefined);
  if (!decision.inject) return respond({ allowed: true });
  const namespace = request.namespace ?? pod.metadata?.namespace ?? 'default';
  let injected: PodTemplate;
  try {
    injected = injectTemplate(pod, namespace, config);
  } catch (err) {
    if (!(err instanceof AnnotationError)) throw err;
    return respond({ allowed: false, status: { code: 422, reason: 'Invalid', message: `petrel injection refused: ${err.message}` } });
  }
  const patch = Buffer.from(JSON.stringify(patchFor(pod, injected))).toString('base64');
  return respond({ allowed: true, patchType: 'JSONPatch', patch });
}
