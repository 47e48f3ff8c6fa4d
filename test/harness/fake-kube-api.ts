// A small Kubernetes API server for tests: list and watch with resourceVersion, bookmarks, 410 Gone
// for a compacted history, status-subresource patches (JSON patch, and merge patch with the
// resourceVersion precondition), collections that can be uninstalled (404, as a missing CRD), and a
// switch to break watches. The real
// @kubernetes/client-node talks to it exactly as it would to a cluster.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; generation?: number; uid?: string; labels?: Record<string, string>; creationTimestamp?: string };
  [key: string]: unknown;
}

interface Event { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject }

/** A collection served at a path, e.g. /apis/petrel.dev/v1alpha1/resiliencepolicies. */
class Collection {
  readonly objects = new Map<string, KubeObject>();
  readonly events: Event[] = [];
  readonly watchers = new Set<{ res: ServerResponse; from: number }>();
  readonly listKind: string;
  readonly apiVersion: string;
  constructor(listKind: string, apiVersion: string) {
    this.listKind = listKind;
    this.apiVersion = apiVersion;
  }
}

export class FakeKubeApi {
  server: Server | undefined;
  url = '';
  #rv = 100;
  /** Events at or below this resourceVersion are gone: watching from there answers 410. */
  #compactedTo = 0;
  readonly #collections = new Map<string, Collection>();
  readonly patches: { path: string; body: unknown; contentType?: string }[] = [];
  /** Collections answered with 404, as the API server does for a CRD that is not installed. */
  readonly #uninstalled = new Set<string>();
  /** Status patches refused with 409 for a stale resourceVersion precondition. */
  statusConflicts = 0;
  failWatches = false;
  /** Watches answered with 410 Gone. */
  gone = 0;
  /** Requests answered 404, per path (an uninstalled collection's lists show here). */
  readonly notFound = new Map<string, number>();
  /** Lists served, per collection path. */
  readonly lists = new Map<string, number>();

  constructor() {
    this.#collections.set('/apis/petrel.dev/v1alpha1/resiliencepolicies', new Collection('ResiliencePolicyList', 'petrel.dev/v1alpha1'));
    this.#collections.set('/apis/petrel.dev/v1alpha1/accesspolicies', new Collection('AccessPolicyList', 'petrel.dev/v1alpha1'));
    this.#collections.set('/apis/discovery.k8s.io/v1/endpointslices', new Collection('EndpointSliceList', 'discovery.k8s.io/v1'));
    this.#collections.set('/api/v1/pods', new Collection('PodList', 'v1'));
    this.#collections.set('/api/v1/services', new Collection('ServiceList', 'v1'));
    this.#collections.set('/apis/gateway.networking.k8s.io/v1/httproutes', new Collection('HTTPRouteList', 'gateway.networking.k8s.io/v1'));
    this.#collections.set('/apis/gateway.networking.k8s.io/v1/grpcroutes', new Collection('GRPCRouteList', 'gateway.networking.k8s.io/v1'));
  }

  /** The collection answers 404 (list, watch, status) until install(): a CRD that is not installed. */
  uninstall(path: string): void {
    this.#collection(path);
    this.#uninstalled.add(path);
    for (const w of this.#collection(path).watchers) w.res.destroy();
  }

  install(path: string): void {
    this.#uninstalled.delete(path);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.#handle(req, res));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const c of this.#collections.values()) for (const w of c.watchers) w.res.destroy();
    this.server?.closeAllConnections();
    this.server?.close();
  }

  /** Creates or replaces an object; returns its new resourceVersion. */
  apply(path: string, object: KubeObject): number {
    const c = this.#collection(path);
    const key = `${object.metadata.namespace}/${object.metadata.name}`;
    const old = c.objects.get(key);
    const rv = ++this.#rv;
    const stored: KubeObject = {
      ...object,
      metadata: {
        ...object.metadata, resourceVersion: String(rv), uid: old?.metadata.uid ?? `uid-${rv}`, generation: (old?.metadata.generation ?? 0) + 1,
        // Set by the API server on create, to the second, and kept by every update.
        creationTimestamp: old?.metadata.creationTimestamp ?? object.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
      ...(old && 'status' in old && !('status' in object) ? { status: old.status } : {}),
    };
    c.objects.set(key, stored);
    this.#emit(c, { rv, type: old ? 'MODIFIED' : 'ADDED', object: stored });
    return rv;
  }

  delete(path: string, namespace: string, name: string): void {
    const c = this.#collection(path);
    const old = c.objects.get(`${namespace}/${name}`);
    if (!old) return;
    c.objects.delete(`${namespace}/${name}`);
    const rv = ++this.#rv;
    this.#emit(c, { rv, type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(rv) } } });
  }

  get(path: string, namespace: string, name: string): KubeObject | undefined {
    return this.#collection(path).objects.get(`${namespace}/${name}`);
  }

  /** Forgets the event history: a watch resuming from before now gets 410 Gone. */
  compact(): void {
    this.#compactedTo = this.#rv;
    for (const c of this.#collections.values()) c.events.length = 0;
  }

  /** Ends every open watch (as an API server restart or a load balancer would). */
  dropWatches(): void {
    for (const c of this.#collections.values()) {
      for (const w of c.watchers) w.res.destroy();
      c.watchers.clear();
    }
  }

  /** Sends a BOOKMARK with the current resourceVersion on every watch. */
  bookmark(): void {
    for (const c of this.#collections.values()) {
      for (const w of c.watchers) w.res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { apiVersion: c.apiVersion, kind: c.listKind.replace(/List$/, ''), metadata: { resourceVersion: String(this.#rv) } } })}\n`);
    }
  }

  #collection(path: string): Collection {
    const c = this.#collections.get(path);
    if (!c) throw new Error(`no collection ${path}`);
    return c;
  }

  #emit(c: Collection, event: Event): void {
    c.events.push(event);
    for (const w of c.watchers) if (event.rv > w.from) w.res.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://kube');
    const statusMatch = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)\/status$/.exec(url.pathname);
    if (req.method === 'PATCH' && statusMatch) {
      const [, group, version, namespace, plural, name] = statusMatch as unknown as [string, string, string, string, string, string];
      return this.#patchStatus(req, res, namespace, name, `/apis/${group}/${version}/${plural}`);
    }
    if (req.method === 'POST' && url.pathname === '/apis/authentication.k8s.io/v1/tokenreviews') return this.#tokenReview(req, res);
    if (/^\/api\/v1\/namespaces\/[^/]+\/secrets|^\/apis\/admissionregistration\.k8s\.io\/v1\//.test(url.pathname)) return this.#plainObject(req, res, url.pathname);
    const c = this.#uninstalled.has(url.pathname) ? undefined : this.#collections.get(url.pathname);
    if (req.method !== 'GET' || c === undefined) {
      this.notFound.set(url.pathname, (this.notFound.get(url.pathname) ?? 0) + 1);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404, reason: 'NotFound' }));
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      this.lists.set(url.pathname, (this.lists.get(url.pathname) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: c.apiVersion, kind: c.listKind, metadata: { resourceVersion: String(this.#rv) }, items: [...c.objects.values()] }));
      return;
    }
    if (this.failWatches) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 500, message: 'the fake API server fails watches on purpose' }));
      return;
    }
    const from = Number(url.searchParams.get('resourceVersion') ?? '0');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders(); // as the real API server does: the client's watch() resolves on the headers
    if (from < this.#compactedTo) {
      this.gone++;
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'too old resource version', reason: 'Expired', code: 410 } })}\n`);
      return;
    }
    for (const e of c.events) if (e.rv > from) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
    const watcher = { res, from };
    c.watchers.add(watcher);
    res.once('close', () => c.watchers.delete(watcher));
  }

  /** Tokens that TokenReview authenticates, with the audiences they were minted for. */
  readonly tokens = new Map<string, string[]>();
  /** The username TokenReview reports for a token; default system:serviceaccount:shop:web. */
  readonly usernames = new Map<string, string>();
  tokenReviews = 0;

  #tokenReview(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      this.tokenReviews++;
      const review = JSON.parse(body) as { spec: { token: string; audiences?: string[] } };
      const audiences = this.tokens.get(review.spec.token);
      const wanted = review.spec.audiences ?? [];
      const authenticated = audiences !== undefined && wanted.every((a) => audiences.includes(a));
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: review.spec,
        status: authenticated ? { authenticated: true, audiences: wanted, user: { username: this.usernames.get(review.spec.token) ?? 'system:serviceaccount:shop:web' } } : { authenticated: false },
      }));
    });
  }

  /** Secrets and webhook configurations: get, create (409 if present), replace, JSON patch. */
  readonly plainObjects = new Map<string, Record<string, any>>();
  /** Paths of plain objects created (201), in order: a race between replicas shows as one entry. */
  readonly created: string[] = [];
  /** Creates refused with 409 AlreadyExists. */
  conflicts = 0;
  /** Paths whose next GET answers 404 although the object exists: a reader that lost a race. */
  readonly hideOnce = new Set<string>();

  #plainObject(req: IncomingMessage, res: ServerResponse, path: string): void {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const send = (status: number, object: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(object));
      };
      const notFound = () => send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      const existing = this.plainObjects.get(path);
      if (req.method === 'GET') return existing && !this.hideOnce.delete(path) ? send(200, existing) : notFound();
      if (req.method === 'POST') {
        const object = JSON.parse(body) as Record<string, any>;
        const key = `${path}/${object.metadata.name as string}`;
        if (this.plainObjects.has(key)) return this.conflicts++, send(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'AlreadyExists', code: 409 });
        this.plainObjects.set(key, object);
        this.created.push(key);
        return send(201, object);
      }
      if (!existing) return notFound();
      if (req.method === 'PUT') {
        this.plainObjects.set(path, JSON.parse(body) as Record<string, any>);
        return send(200, this.plainObjects.get(path));
      }
      if (req.method === 'PATCH') {
        const updated = structuredClone(existing);
        for (const op of JSON.parse(body) as { op: string; path: string; value: unknown }[]) {
          const keys = op.path.split('/').slice(1);
          let target: any = updated;
          for (const key of keys.slice(0, -1)) target = target[key];
          target[keys.at(-1)!] = op.value;
        }
        this.plainObjects.set(path, updated);
        return send(200, updated);
      }
      send(405, { kind: 'Status', code: 405 });
    });
  }

  #patchStatus(req: IncomingMessage, res: ServerResponse, namespace: string, name: string, path: string): void {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      const send = (code: number, object: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(object));
      };
      const contentType = req.headers['content-type'] ?? '';
      const patch = JSON.parse(body) as unknown;
      this.patches.push({ path: `${namespace}/${name}`, body: patch, contentType });
      const c = this.#uninstalled.has(path) ? undefined : this.#collections.get(path);
      const obj = c?.objects.get(`${namespace}/${name}`);
      if (!c || !obj) return send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
      let status: unknown;
      if (contentType.startsWith('application/merge-patch+json')) {
        // RFC 7386 on the object; the status subresource keeps only the status part, and a
        // metadata.resourceVersion in the patch is a precondition.
        const merge = patch as { metadata?: { resourceVersion?: string }; status?: unknown };
        const wanted = merge.metadata?.resourceVersion;
        if (wanted !== undefined && wanted !== obj.metadata.resourceVersion) {
          this.statusConflicts++;
          return send(409, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Conflict', code: 409, message: 'the object has been modified; please apply your changes to the latest version and try again' });
        }
        status = mergePatch(obj.status, merge.status);
      } else {
        status = (patch as { op: string; path: string; value: unknown }[]).find((p) => p.path === '/status')?.value;
      }
      const rv = ++this.#rv;
      const updated = { ...obj, status, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
      c.objects.set(`${namespace}/${name}`, updated);
      this.#emit(c, { rv, type: 'MODIFIED', object: updated });
      send(200, updated);
    });
  }
}

/** JSON merge patch (RFC 7386): objects merge, null deletes, anything else (arrays too) replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const result: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}
