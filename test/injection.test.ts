// Injection on real AdmissionReview documents (the shape the API server sends for a ReplicaSet's pod),
// through the HTTPS webhook server of a running control plane, and `petrel inject` on manifests.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import fastJsonPatch from 'fast-json-patch';
import { parseAllDocuments, parse } from 'yaml';
import { reviewPod } from '../control/injection/inject-review.ts';
import { DEFAULT_INJECTOR_CONFIG } from '../control/injection/injection-config.ts';
import { DEFAULT_API_TOKEN_DIR, type Container, type PodTemplate } from '../control/injection/pod-injector.ts';
import { generateServingCertificate } from '../control/webhooks/webhook-certificate.ts';
import { PETREL, REPO, freePort, runPetrel, tempDir } from './harness/processes.ts';
import { spawn, type ChildProcess } from 'node:child_process';

const FIXTURE = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'admission', 'pod-create.json'), 'utf8')) as { request: { object: PodTemplate; uid: string } };
type Review = ReturnType<typeof reviewPod>;

function fixture(change?: (pod: PodTemplate & { metadata: NonNullable<PodTemplate['metadata']> }) => void): typeof FIXTURE {
  const copy = structuredClone(FIXTURE);
  change?.(copy.request.object as PodTemplate & { metadata: NonNullable<PodTemplate['metadata']> });
  return copy;
}

function applied(review: typeof FIXTURE, answer: Review): PodTemplate {
  const response = answer.response as { patch?: string; patchType?: string };
  assert.equal(response.patchType, 'JSONPatch');
  const patch = JSON.parse(Buffer.from(response.patch!, 'base64').toString()) as fastJsonPatch.Operation[];
  // validateOperation: true makes a patch that does not fit the document throw.
  return fastJsonPatch.applyPatch(structuredClone(review.request.object), patch, true, false).newDocument;
}

/** A root certificate to pin (any self-signed PEM will do for injection). */
const ROOT_PEM = generateServingCertificate(['petrel-control.petrel-system.svc'], new Date()).certPem;

/**
 * What the API server's ServiceAccount admission plugin does to an admitted pod, and does again after
 * a mutating webhook changed it: every init container and container without a mount at the default
 * token path gets the kube-api-access volume mounted there.
 */
function serviceAccountAdmission(pod: PodTemplate): PodTemplate {
  const copy = structuredClone(pod);
  const volume = copy.spec.volumes?.find((v) => String(v.name).startsWith('kube-api-access-'));
  assert.ok(volume, 'the pod already has its kube-api-access volume');
  for (const c of [...(copy.spec.initContainers ?? []), ...copy.spec.containers] as (Container & { volumeMounts?: Record<string, unknown>[] })[]) {
    if ((c.volumeMounts ?? []).some((m) => m.mountPath === DEFAULT_API_TOKEN_DIR)) continue;
    c.volumeMounts = [...(c.volumeMounts ?? []), { name: volume.name, readOnly: true, mountPath: DEFAULT_API_TOKEN_DIR }];
  }
  return copy;
}

function byName(containers: Container[] | undefined, name: string): Container & Record<string, any> {
  const found = containers?.find((c) => c.name === name);
  assert.ok(found, `no container ${name}`);
  return found as Container & Record<string, any>;
}

describe('the mutating webhook handler on AdmissionReview v1', () => {
  it('injects the iptables init container and the native sidecar, honouring the pod\'s annotations', () => {
    const review = fixture();
    const answer = reviewPod(review, DEFAULT_INJECTOR_CONFIG);
    assert.equal(answer.response?.uid, review.request.uid);
    assert.equal(answer.response?.allowed, true);
    const pod = applied(review, answer);
    assert.deepEqual(pod.spec.initContainers?.map((c) => c.name), ['petrel-init', 'petrel-sidecar', 'migrate']);
    const init = byName(pod.spec.initContainers, 'petrel-init');
    assert.deepEqual(init.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
    assert.deepEqual(init.args.slice(0, 1), ['iptables']);
    assert.equal(init.args[init.args.indexOf('--skip-outbound-ports') + 1], '5432,6379');
    assert.equal(init.args[init.args.indexOf('--proxy-uid') + 1], '1337');
    const proxy = byName(pod.spec.initContainers, 'petrel-sidecar');
    assert.equal(proxy.restartPolicy, 'Always');
    assert.equal(proxy.securityContext.runAsUser, 1337);
    assert.equal(proxy.securityContext.readOnlyRootFilesystem, true);
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.equal(proxy[probe].httpGet.port, 15000, probe);
    assert.match(proxy.lifecycle.preStop.exec.command.join(' '), /127\.0\.0\.1:15000\/drain/);
    const arg = (flag: string) => proxy.args[proxy.args.indexOf(flag) + 1];
    assert.equal(arg('--service'), 'checkout');
    assert.equal(arg('--namespace'), 'shop');
    assert.equal(arg('--app'), '127.0.0.1:8080');
    assert.equal(arg('--log-level'), 'debug');
    assert.equal(arg('--drain-grace'), '45000ms');
    assert.equal(arg('--token-file'), '/var/run/secrets/petrel/token');
    // The service account, from the downward API, as POD_NAME is.
    assert.equal(arg('--service-account'), '$(SERVICE_ACCOUNT)');
    assert.deepEqual(proxy.env.find((e: { name: string }) => e.name === 'SERVICE_ACCOUNT'), { name: 'SERVICE_ACCOUNT', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } });
    // No trust roots configured: the config stream stays plaintext and nothing is pinned.
    assert.equal(arg('--control'), 'http://petrel-control.petrel-system.svc:15010');
    assert.equal(proxy.env.find((e: { name: string }) => e.name === 'PETREL_CONTROL_CA'), undefined);
    assert.equal(proxy.resources.limits.memory, '192Mi');
    assert.equal(proxy.resources.requests.memory, '128Mi');
    assert.equal(pod.spec.terminationGracePeriodSeconds, 55, 'raised to outlive a 5 s drain delay, a 45 s drain grace and 5 s more');
    const token = pod.spec.volumes?.find((v) => v.name === 'petrel-token') as { projected: { sources: { serviceAccountToken: { audience: string } }[] } };
    assert.equal(token.projected.sources[0]?.serviceAccountToken.audience, 'petrel');
    assert.equal(pod.spec.volumes?.[0]?.name, 'kube-api-access-7xkqz', 'existing volumes kept');
    assert.equal(pod.metadata?.annotations?.['petrel.dev/injected'], 'true');
    assert.equal(pod.spec.containers.length, 1, 'the app containers are untouched');
  });

  it('mounts what the sidecar needs and nothing more, and keeps the pod\'s API token out of the injected containers', () => {
    const review = fixture();
    // The webhook's patch, then the ServiceAccount plugin run again, as the API server does.
    const pod = serviceAccountAdmission(applied(review, reviewPod(review, DEFAULT_INJECTOR_CONFIG)));
    const proxy = byName(pod.spec.initContainers, 'petrel-sidecar');
    assert.deepEqual(proxy.volumeMounts, [
      { name: 'petrel-token', mountPath: '/var/run/secrets/petrel', readOnly: true },
      { name: 'petrel-cache', mountPath: '/var/run/petrel' },
      { name: 'petrel-no-api-token', mountPath: DEFAULT_API_TOKEN_DIR, readOnly: true },
    ]);
    assert.deepEqual(byName(pod.spec.initContainers, 'petrel-init').volumeMounts, [{ name: 'petrel-no-api-token', mountPath: DEFAULT_API_TOKEN_DIR, readOnly: true }]);
    const volume = (name: string) => pod.spec.volumes?.find((v) => v.name === name);
    assert.deepEqual(volume('petrel-token'), { name: 'petrel-token', projected: { sources: [{ serviceAccountToken: { audience: 'petrel', expirationSeconds: 3600, path: 'token' } }] } });
    assert.deepEqual(volume('petrel-cache'), { name: 'petrel-cache', emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } });
    assert.deepEqual(volume('petrel-no-api-token'), { name: 'petrel-no-api-token', emptyDir: { medium: 'Memory', sizeLimit: '1Ki' } }, 'an empty volume, not a token');
    assert.deepEqual(pod.spec.volumes?.map((v) => v.name), ['kube-api-access-7xkqz', 'petrel-token', 'petrel-cache', 'petrel-no-api-token']);
    // The app and its own init container keep the token their automount gives them.
    assert.ok(byName(pod.spec.containers, 'checkout').volumeMounts.some((m: { name: string }) => m.name === 'kube-api-access-7xkqz'));
    assert.ok(byName(pod.spec.initContainers, 'migrate').volumeMounts.some((m: { name: string }) => m.name === 'kube-api-access-7xkqz'));
    // Without the mask the plugin would have given the sidecar the pod's token: the check above is not vacuous.
    const unmasked = structuredClone(applied(review, reviewPod(review, DEFAULT_INJECTOR_CONFIG)));
    const bare = byName(unmasked.spec.initContainers, 'petrel-sidecar');
    bare.volumeMounts = bare.volumeMounts.filter((m: { mountPath: string }) => m.mountPath !== DEFAULT_API_TOKEN_DIR);
    assert.ok(byName(serviceAccountAdmission(unmasked).spec.initContainers, 'petrel-sidecar').volumeMounts.some((m: { name: string }) => m.name === 'kube-api-access-7xkqz'));
  });

  it('with the mesh root configured, pins it through PETREL_CONTROL_CA and reaches the control plane over https', () => {
    const review = fixture();
    const pod = applied(review, reviewPod(review, { ...DEFAULT_INJECTOR_CONFIG, trustRootsPem: ROOT_PEM }));
    const proxy = byName(pod.spec.initContainers, 'petrel-sidecar');
    assert.equal(proxy.args[proxy.args.indexOf('--control') + 1], 'https://petrel-control.petrel-system.svc:15010');
    assert.deepEqual(proxy.env.find((e: { name: string }) => e.name === 'PETREL_CONTROL_CA'), { name: 'PETREL_CONTROL_CA', value: ROOT_PEM });
  });

  it('is idempotent: an injected pod gets no second patch', () => {
    const review = fixture();
    const once = applied(review, reviewPod(review, DEFAULT_INJECTOR_CONFIG));
    const again = reviewPod({ request: { ...review.request, object: once } }, DEFAULT_INJECTOR_CONFIG);
    assert.equal(again.response?.allowed, true);
    assert.equal((again.response as { patch?: string }).patch, undefined);
  });

  it('skips pods that opt out or use hostNetwork, and operations other than CREATE', () => {
    const cases = [
      fixture((p) => { p.metadata.labels = { ...p.metadata.labels, 'petrel.dev/inject': 'disabled' }; }),
      fixture((p) => { p.metadata.annotations = { ...p.metadata.annotations, 'petrel.dev/inject': 'disabled' }; }),
      fixture((p) => { p.spec.hostNetwork = true; }),
      { request: { ...fixture().request, operation: 'UPDATE' } },
    ];
    for (const review of cases) {
      const answer = reviewPod(review, DEFAULT_INJECTOR_CONFIG);
      assert.equal(answer.response?.allowed, true);
      assert.equal((answer.response as { patch?: string }).patch, undefined);
    }
  });

  it('refuses a bad annotation by its field path', () => {
    const answer = reviewPod(fixture((p) => { p.metadata.annotations = { 'petrel.dev/skip-inbound-ports': '80,http' }; }), DEFAULT_INJECTOR_CONFIG);
    assert.equal(answer.response?.allowed, false);
    assert.equal(answer.response?.status?.message, 'petrel injection refused: metadata.annotations["petrel.dev/skip-inbound-ports"]: "80,http" is not a comma-separated list of ports');
  });
});

describe('the webhooks served over HTTPS by petrel control', () => {
  let control: ChildProcess;
  let port: number;
  let output = '';

  before(async () => {
    port = await freePort();
    const [api, stream] = [await freePort(), await freePort()];
    control = spawn(process.execPath, [PETREL, 'control', '--webhook-port', String(port), '--api-port', String(api), '--stream-port', String(stream), '--sidecar-image', 'registry.local/petrel:test'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    control.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
    control.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    const deadline = Date.now() + 15_000;
    while (!output.includes('admission webhooks listening')) {
      if (Date.now() > deadline || control.exitCode !== null) throw new Error(`control plane did not serve webhooks:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  after(() => control?.kill('SIGKILL'));

  function post(path: string, body: unknown): Promise<{ status: number; json: any; cert: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().subjectaltname ?? '';
        res.on('data', (d: Buffer) => { text += d.toString(); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text), cert }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  }

  it('POST /inject answers the review with a JSONPatch using the configured image, over TLS for the Service name', async () => {
    const review = fixture();
    const { status, json, cert } = await post('/inject', review);
    assert.equal(status, 200);
    assert.match(cert, /DNS:petrel-control\.petrel-system\.svc/);
    const pod = applied(review, json as Review);
    assert.equal(byName(pod.spec.initContainers, 'petrel-sidecar').image, 'registry.local/petrel:test');
  });

  it('POST /validate judges ResiliencePolicies; malformed bodies get 400', async () => {
    const bad = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'v1', operation: 'CREATE', object: { apiVersion: 'petrel.dev/v1alpha1', kind: 'ResiliencePolicy', metadata: { name: 'x' }, spec: { targetRef: { kind: 'Service', name: 'a' }, retry: { attempts: 0 } } } } };
    const { json } = await post('/validate', bad);
    assert.equal(json.response.allowed, false);
    assert.match(json.response.status.message, /retry\.attempts/);
    assert.equal((await post('/validate', { kind: 'nope' })).status, 400);
    assert.equal((await post('/other', {})).status, 404);
  });
});

describe('petrel inject', () => {
  const manifests = `# shop manifests
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web, ports: [{containerPort: 8080}]}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec: {template: {spec: {containers: [{name: db, image: db}]}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec: {template: {spec: {hostNetwork: true, containers: [{name: a, image: a}]}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: j, image: j}]}}}
---
apiVersion: v1
kind: Pod
metadata: {name: solo}
spec: {containers: [{name: s, image: s}]}
---
apiVersion: v1
kind: Service   # stays exactly as written
metadata: {name: web}
spec: {ports: [{port: 80, targetPort: 8080}]}
`;

  it('injects every pod template, leaves other kinds byte for byte, writes valid YAML, and is idempotent', async () => {
    const first = await runPetrel(['inject', '-f', '-'], manifests);
    assert.equal(first.code, 0, first.stderr);
    const docs = parseAllDocuments(first.stdout).map((d) => { assert.deepEqual(d.errors, []); return d.toJS(); });
    assert.deepEqual(docs.map((d) => d.kind), ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod', 'Service']);
    const proxyOf = (spec: { initContainers?: Container[] }) => spec.initContainers?.find((c) => c.name === 'petrel-sidecar');
    assert.ok(proxyOf(docs[0].spec.template.spec));
    assert.equal((proxyOf(docs[0].spec.template.spec) as any).args.includes('web'), true);
    assert.ok(proxyOf(docs[1].spec.template.spec));
    assert.equal(proxyOf(docs[2].spec.template.spec), undefined, 'hostNetwork DaemonSet skipped');
    assert.ok(proxyOf(docs[3].spec.template.spec));
    assert.ok(proxyOf(docs[4].spec));
    assert.ok(first.stdout.includes('kind: Service   # stays exactly as written\nmetadata: {name: web}\nspec: {ports: [{port: 80, targetPort: 8080}]}\n'));
    assert.ok(first.stdout.startsWith('# shop manifests\n'));
    assert.match(first.stderr, /DaemonSet\/agent skipped: the pod uses hostNetwork/);
    const second = await runPetrel(['inject', '-f', '-'], first.stdout);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, first.stdout);
  });

  it('injects the same pod the webhook does', async () => {
    const pod = { apiVersion: 'v1', kind: 'Pod', ...structuredClone(FIXTURE.request.object) };
    const offline = await runPetrel(['inject', '-f', '-'], JSON.stringify(pod));
    assert.equal(offline.code, 0, offline.stderr);
    const online = applied(FIXTURE, reviewPod(FIXTURE, DEFAULT_INJECTOR_CONFIG));
    assert.deepEqual((parse(offline.stdout) as PodTemplate).spec, online.spec);
  });

  it('--control-ca pins the mesh root and switches the config stream to https; a key file is refused', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.crt'), ROOT_PEM);
    const out = await runPetrel(['inject', '-f', '-', '--control-ca', join(dir, 'ca.crt')], 'kind: Pod\nmetadata: {name: solo, namespace: shop}\nspec: {serviceAccountName: solo, containers: [{name: s, image: s}]}\n');
    assert.equal(out.code, 0, out.stderr);
    const proxy = (parse(out.stdout) as PodTemplate).spec.initContainers?.find((c) => c.name === 'petrel-sidecar') as Container & Record<string, any>;
    assert.equal(proxy.args[proxy.args.indexOf('--control') + 1], 'https://petrel-control.petrel-system.svc:15010');
    assert.equal(proxy.env.find((e: { name: string }) => e.name === 'PETREL_CONTROL_CA').value, ROOT_PEM);
    writeFileSync(join(dir, 'ca.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    const key = await runPetrel(['inject', '-f', '-', '--control-ca', join(dir, 'ca.key')], 'kind: Pod\nmetadata: {name: solo}\nspec: {containers: [{name: s, image: s}]}\n');
    assert.equal(key.code, 1);
    assert.match(key.stderr, /--control-ca .*ca\.key: not PEM certificates only/);
  });

  it('names the file, line or field path of bad input', async () => {
    const badYaml = await runPetrel(['inject', '-f', '-'], 'kind: Pod\nspec: [\n');
    assert.equal(badYaml.code, 1);
    assert.match(badYaml.stderr, /^petrel inject: <stdin>:\d+: document 1: /);
    const noContainers = await runPetrel(['inject', '-f', '-'], 'kind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {}}}\n');
    assert.equal(noContainers.code, 1);
    assert.match(noContainers.stderr, /document 1: spec\.template\.spec\.containers: a Deployment needs a pod spec with containers/);
    const badAnnotation = await runPetrel(['inject', '-f', '-'], 'kind: Deployment\nmetadata: {name: x}\nspec: {template: {metadata: {annotations: {petrel.dev/drain-grace: soon}}, spec: {containers: [{name: a}]}}}\n');
    assert.match(badAnnotation.stderr, /spec\.template\.metadata\.annotations\["petrel\.dev\/drain-grace"\]: "soon" is not a duration/);
    const missing = await runPetrel(['inject', '-f', '/nonexistent.yaml']);
    assert.match(missing.stderr, /\/nonexistent\.yaml: ENOENT/);
  });
});
