// A Kubernetes watch that keeps only what the control plane needs of each object. Every watched
// object is reduced (`slim`) before the informer caches it; one that is not wanted, or not admitted
// (a cache over its bound), becomes a bookmark: it moves the resourceVersion the informer resumes
// from and caches nothing. A DELETED object that reduces is always passed on: the cache may hold it.
import * as k8s from '@kubernetes/client-node';

export class SlimWatch<Raw extends { metadata?: { resourceVersion?: string } }, Slim> extends k8s.Watch {
  readonly #slim: (raw: Raw) => Slim | undefined;
  readonly #admit: (slim: Slim) => boolean;

  constructor(kc: k8s.KubeConfig, slim: (raw: Raw) => Slim | undefined, admit: (slim: Slim) => boolean) {
    super(kc);
    this.#slim = slim;
    this.#admit = admit;
  }

  override watch(path: string, query: Record<string, string | number | boolean | undefined>, callback: (phase: string, object: any, raw?: any) => void, done: (err: any) => void): Promise<AbortController> {
    return super.watch(path, query, (phase, object: Raw, raw) => {
      if (phase !== 'ADDED' && phase !== 'MODIFIED' && phase !== 'DELETED') return callback(phase, object, raw);
      const slim = this.#slim(object);
      if (slim !== undefined && (phase === 'DELETED' || this.#admit(slim))) return callback(phase, slim, raw);
      callback('BOOKMARK', { metadata: { resourceVersion: object.metadata?.resourceVersion } }, raw);
    }, done);
  }
}

/** `fn` at most once per turn of the event loop, however many times a burst of watch events asks. */
export function oncePerTick(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    setImmediate(() => {
      pending = false;
      fn();
    });
  };
}
