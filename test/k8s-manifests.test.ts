// `kubectl kustomize k8s/` renders, and every object has what the cluster and the control plane
// need: required fields, least-privilege RBAC, webhooks that never block petrel-system, a Service
// whose ports the Deployment and webhook configurations name, and the dashboards as a ConfigMap.
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO, tempDir } from './harness/processes.ts';

type Obj = Record<string, any>;

describe('k8s/ rendered by kubectl kustomize', () => {
  let objects: Obj[];
  const find = (kind: string, name: string): Obj => {
    const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
    assert.ok(found, `no ${kind}/${name} in the rendered manifests`);
    return found;
  };

  before(() => {
    const rendered = execFileSync('kubectl', ['kustomize', join(REPO, 'k8s')], { encoding: 'utf8' });
    objects = parseAllDocuments(rendered).map((doc) => {
      assert.deepEqual(doc.errors, []);
      return doc.toJS() as Obj;
    });
  });

  it('every object has apiVersion, kind and name; namespaced ones are in petrel-system', () => {
    const clusterScoped = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    assert.ok(objects.length >= 14);
    for (const o of objects) {
      assert.ok(typeof o.apiVersion === 'string' && typeof o.kind === 'string' && typeof o.metadata?.name === 'string', JSON.stringify(o).slice(0, 120));
      if (!clusterScoped.has(o.kind)) assert.equal(o.metadata.namespace, 'petrel-system', `${o.kind}/${o.metadata.name}`);
    }
  });

  it('the CRDs are the generated ones: structural, status subresource, printer columns', () => {
    for (const name of ['resiliencepolicies.petrel.dev', 'accesspolicies.petrel.dev']) {
      const crd = find('CustomResourceDefinition', name);
      const version = crd.spec.versions[0];
      assert.equal(version.name, 'v1alpha1');
      assert.deepEqual(version.subresources, { status: {} });
      assert.ok(version.additionalPrinterColumns.length >= 2);
      assert.equal(version.schema.openAPIV3Schema.type, 'object');
    }
  });

  it('the control plane: 2 stateless non-root replicas, probes on the API port, a PDB that matches them', () => {
    const deployment = find('Deployment', 'petrel-control');
    assert.equal(deployment.spec.replicas, 2);
    const pod = deployment.spec.template;
    assert.equal(pod.metadata.labels['petrel.dev/inject'], 'disabled');
    const [container] = pod.spec.containers;
    assert.deepEqual(container.args.slice(0, 3), ['control', '--kubernetes', '--token-review']);
    const flag = (name: string) => container.args[container.args.indexOf(name) + 1];
    assert.equal(flag('--cert-ttl'), '24h', 'the workload certificate lifetime, visible where operators look');
    assert.equal(flag('--trust-domain'), 'cluster.local');
    assert.ok(!container.args.includes('--no-identity'), 'identity is on in Kubernetes');
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.spec.securityContext.runAsUser, 1337);
    assert.equal(pod.spec.volumes, undefined, 'stateless: no volumes');
    assert.equal(container.readinessProbe.httpGet.path, '/ready');
    const ports = Object.fromEntries(container.ports.map((p: Obj) => [p.name, p.containerPort]));
    assert.deepEqual(ports, { stream: 15010, api: 15014, webhook: 15017 });
    const service = find('Service', 'petrel-control');
    assert.deepEqual(service.spec.selector, deployment.spec.selector.matchLabels);
    assert.deepEqual(service.spec.ports.map((p: Obj) => [p.name, p.port]), [['stream', 15010], ['api', 15014], ['webhook', 15017]]);
    const pdb = find('PodDisruptionBudget', 'petrel-control');
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    assert.equal(pod.spec.serviceAccountName, find('ServiceAccount', 'petrel-control').metadata.name);
  });

  it('RBAC is least privilege: no wildcards, writes limited to status, two named Secrets in petrel-system and Petrel\'s own webhooks', () => {
    const rules = [...find('ClusterRole', 'petrel-control').rules, ...find('Role', 'petrel-control').rules] as Obj[];
    for (const rule of rules) {
      for (const field of ['apiGroups', 'resources', 'verbs']) assert.ok(!rule[field].includes('*'), `wildcard in ${JSON.stringify(rule)}`);
      for (const verb of rule.verbs) assert.ok(['get', 'list', 'watch', 'patch', 'create', 'update'].includes(verb), verb);
    }
    const verbsFor = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    assert.deepEqual(verbsFor('resiliencepolicies'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor('resiliencepolicies/status'), ['patch']);
    assert.deepEqual(verbsFor('accesspolicies'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor('accesspolicies/status'), ['patch']);
    assert.deepEqual(verbsFor('endpointslices'), ['list', 'watch']);
    assert.deepEqual(verbsFor('httproutes'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor('httproutes/status'), ['patch']);
    assert.deepEqual(verbsFor('grpcroutes'), ['get', 'list', 'watch']);
    assert.deepEqual(verbsFor('grpcroutes/status'), ['patch']);
    assert.deepEqual(verbsFor('services'), ['list', 'watch']);
    assert.deepEqual(verbsFor('tokenreviews'), ['create']);
    for (const [resource, name] of [['mutatingwebhookconfigurations', 'petrel-injector'], ['validatingwebhookconfigurations', 'petrel-policy-validator']] as const) {
      const rule = rules.find((r) => r.resources.includes(resource));
      assert.deepEqual(rule?.resourceNames, [name]);
      assert.deepEqual(rule?.verbs.sort(), ['get', 'patch']);
    }
    assert.deepEqual(verbsFor('pods'), ['list', 'watch'], 'pods: read service accounts for endpoint identities, nothing else');
    assert.deepEqual(rules.filter((r) => r.resources.includes('secrets') && r.verbs.includes('update')).map((r) => r.resourceNames), [['petrel-webhook-tls', 'petrel-identity-issuer']]);
    // Secrets only through the namespaced Role, never cluster-wide: the issuer key is readable by petrel-control in petrel-system alone.
    assert.equal(find('ClusterRole', 'petrel-control').rules.some((r: Obj) => r.resources.includes('secrets')), false);
    const role = find('Role', 'petrel-control');
    assert.equal(role.metadata.namespace, 'petrel-system');
    assert.deepEqual(role.rules.flatMap((r: Obj) => r.resources), ['secrets', 'secrets']);
    assert.deepEqual(role.rules.filter((r: Obj) => r.resourceNames === undefined).flatMap((r: Obj) => r.verbs), ['create'], 'only create is unnamed (RBAC cannot name it)');
    const roleBinding = find('RoleBinding', 'petrel-control');
    assert.deepEqual(roleBinding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'petrel-control' });
    assert.deepEqual(roleBinding.subjects, [{ kind: 'ServiceAccount', name: 'petrel-control', namespace: 'petrel-system' }]);
    const binding = find('ClusterRoleBinding', 'petrel-control');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'petrel-control', namespace: 'petrel-system' }]);
  });

  it('the webhooks reach the control plane\'s HTTPS routes and never select petrel-system', () => {
    const mutating = find('MutatingWebhookConfiguration', 'petrel-injector');
    const validating = find('ValidatingWebhookConfiguration', 'petrel-policy-validator');
    const all = [...mutating.webhooks, ...validating.webhooks] as Obj[];
    for (const hook of all) {
      assert.deepEqual(hook.admissionReviewVersions, ['v1']);
      assert.equal(hook.sideEffects, 'None');
      assert.ok(['Fail', 'Ignore'].includes(hook.failurePolicy));
      assert.equal(hook.clientConfig.service.name, 'petrel-control');
      assert.equal(hook.clientConfig.service.port, 15017);
      const excluded = hook.namespaceSelector.matchExpressions.find((e: Obj) => e.key === 'kubernetes.io/metadata.name');
      if (hook.failurePolicy === 'Fail') assert.ok(excluded?.operator === 'NotIn' && excluded.values.includes('kube-system'), hook.name);
    }
    for (const hook of mutating.webhooks as Obj[]) {
      assert.equal(hook.clientConfig.service.path, '/inject');
      assert.ok(hook.namespaceSelector.matchExpressions.find((e: Obj) => e.key === 'kubernetes.io/metadata.name').values.includes('petrel-system'));
      assert.deepEqual(hook.rules[0].resources, ['pods']);
      assert.deepEqual(hook.rules[0].operations, ['CREATE']);
    }
    // Namespace-enabled pods unless they opt out; elsewhere only pods labelled enabled.
    const selectors = (mutating.webhooks as Obj[]).map((h) => [h.namespaceSelector.matchExpressions[0], h.objectSelector.matchExpressions[0]]);
    assert.deepEqual(selectors, [
      [{ key: 'petrel.dev/inject', operator: 'In', values: ['enabled'] }, { key: 'petrel.dev/inject', operator: 'NotIn', values: ['disabled'] }],
      [{ key: 'petrel.dev/inject', operator: 'NotIn', values: ['enabled', 'disabled'] }, { key: 'petrel.dev/inject', operator: 'In', values: ['enabled'] }],
    ]);
    assert.equal(validating.webhooks[0].clientConfig.service.path, '/validate');
    assert.deepEqual(validating.webhooks[0].rules[0].resources, ['resiliencepolicies', 'accesspolicies']);
    assert.deepEqual(validating.webhooks[0].rules[1], { apiGroups: ['gateway.networking.k8s.io'], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['httproutes', 'grpcroutes'], scope: 'Namespaced' });
  });

  it('ships the Prometheus scrape config and the four Grafana dashboards as ConfigMaps', () => {
    const scrape = find('ConfigMap', 'petrel-prometheus-scrape');
    assert.match(scrape.data['petrel-scrape.yml'], /petrel-sidecar;15000/);
    const dashboards = find('ConfigMap', 'petrel-grafana-dashboards');
    assert.equal(dashboards.metadata.labels.grafana_dashboard, '1');
    assert.deepEqual(Object.keys(dashboards.data).sort(), ['petrel-control.json', 'petrel-mesh.json', 'petrel-service.json', 'petrel-workload.json']);
    for (const json of Object.values(dashboards.data)) assert.ok(Array.isArray((JSON.parse(json as string) as Obj).panels));
    assert.equal(find('Namespace', 'petrel-system').metadata.labels['petrel.dev/inject'], 'disabled');
  });

  it('the README\'s cert-manager example renders as an overlay that mounts the issuer for --ca-dir', () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Identity in Kubernetes'));
    const [certManager, overlay] = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    assert.ok(certManager && overlay, 'two YAML blocks in "Identity in Kubernetes"');
    const dir = tempDir();
    cpSync(join(REPO, 'k8s'), join(dir, 'k8s'), { recursive: true });
    mkdirSync(join(dir, 'overlay'));
    writeFileSync(join(dir, 'overlay', 'mesh-ca.yaml'), certManager);
    writeFileSync(join(dir, 'overlay', 'kustomization.yaml'), overlay.replace('<path or URL of k8s/>', '../k8s'));
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(dir, 'overlay')], { encoding: 'utf8' })).map((d) => d.toJS() as Obj);
    const certificate = rendered.find((o) => o.kind === 'Certificate');
    assert.equal(certificate?.spec.isCA, true);
    assert.deepEqual(certificate?.spec.privateKey, { algorithm: 'ECDSA', size: 256, rotationPolicy: 'Never' });
    const pod = rendered.find((o) => o.kind === 'Deployment' && o.metadata.name === 'petrel-control')!.spec.template.spec;
    const [container] = pod.containers;
    assert.ok(container.args.includes('--ca-dir=/etc/petrel/ca'));
    const volume = pod.volumes.find((v: Obj) => v.name === container.volumeMounts[0].name);
    assert.equal(volume.secret.secretName, certificate?.spec.secretName);
    assert.deepEqual(volume.secret.items.map((i: Obj) => i.path), ['ca.crt', 'ca.key']);
    assert.equal(container.volumeMounts[0].mountPath, '/etc/petrel/ca');
  });
});

describe('k8s/conformance/run.sh (the upstream MESH-HTTP suite on kind; it needs a cluster and the internet, so it is only read here)', () => {
  const script = join(REPO, 'k8s', 'conformance', 'run.sh');

  it('is executable, parses (bash -n) and, where shellcheck is installed, passes it', () => {
    assert.ok((statSync(script).mode & 0o111) !== 0, 'run.sh is executable');
    execFileSync('bash', ['-n', script]);
    let shellcheck = true;
    try {
      execFileSync('shellcheck', ['--version'], { stdio: 'ignore' });
    } catch {
      shellcheck = false;
    }
    if (shellcheck) execFileSync('shellcheck', [script], { encoding: 'utf8' });
  });

  it('runs the MESH-HTTP profile with injection on the suite\'s namespaces, claims only what Petrel implements, and writes a report', () => {
    const text = readFileSync(script, 'utf8');
    for (const flag of ['--conformance-profiles=MESH-HTTP', '--namespace-labels=petrel.dev/inject=enabled', '--report-output=', '--supported-features=']) assert.ok(text.includes(flag), flag);
    assert.match(text, /releases\/download\/\$GATEWAY_API_VERSION\/standard-install\.yaml/, 'the CRDs come from upstream, not vendored');
    assert.match(text, /kubectl apply -k "\$REPO\/k8s"/);
    const features = /SUPPORTED_FEATURES=\(\n([\s\S]*?)\n\)/.exec(text)?.[1]?.trim().split(/\s+/) ?? [];
    for (const claimed of ['Mesh', 'MeshClusterIPMatching', 'HTTPRoute', 'HTTPRouteParentRefPort']) assert.ok(features.includes(claimed), claimed);
    for (const refused of ['MeshConsumerRoute', 'MeshHTTPRouteBackendRequestHeaderModification']) assert.ok(!features.includes(refused), refused);
  });
});
