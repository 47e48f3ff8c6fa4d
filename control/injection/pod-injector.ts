// Injection of one pod (or pod template): which pods get the mesh, and what they get. Pure: objects
// in, a new object out, so the admission webhook (JSONPatch) and `petrel inject` (YAML) share it.
import {
  INJECT_LABEL, INJECTED_ANNOTATION, podSettings, sidecarControlUrl, type InjectorConfig, type PodSettings,
} from './injection-config.ts';

/** The sidecar's default --drain-delay with a control plane (sidecar/sidecar.ts DEFAULT_DRAIN_DELAY_MS). */
const SIDECAR_DRAIN_DELAY_SECONDS = 5;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export interface Container {
  name: string;
  ports?: { containerPort: number; protocol?: string; name?: string }[];
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Record<string, unknown>[];
  hostNetwork?: boolean;
  terminationGracePeriodSeconds?: number;
  [key: string]: unknown;
}

export interface PodTemplate {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

export const PROXY_CONTAINER = 'petrel-sidecar';
export const INIT_CONTAINER = 'petrel-init';
const TOKEN_VOLUME = 'petrel-token';
const CACHE_VOLUME = 'petrel-cache';
const TOKEN_DIR = '/var/run/secrets/petrel';
const CACHE_DIR = '/var/run/petrel';
/**
 * Where Kubernetes mounts the pod's default ServiceAccount token (kube-api-access-*). The
 * ServiceAccount admission plugin adds that mount to every container and init container that has
 * no mount at this path yet, and it runs again after a mutating webhook changed the pod, so it
 * would reach the injected containers too. They need no Kubernetes API access: an empty read-only
 * volume mounted here keeps the token out of them (and only them).
 */
export const DEFAULT_API_TOKEN_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const NO_API_TOKEN_VOLUME = 'petrel-no-api-token';
const noApiTokenMount = { name: NO_API_TOKEN_VOLUME, mountPath: DEFAULT_API_TOKEN_DIR, readOnly: true };

export type Decision = { inject: true } | { inject: false; reason: string };

/**
 * Whether a pod gets the mesh. namespaceLabels is undefined offline (`petrel inject`: the user asked
 * for it), where only the pod's own opt-out counts.
 */
export function decide(template: PodTemplate, namespaceLabels: Record<string, string> | undefined): Decision {
  const labels = template.metadata?.labels ?? {};
  const annotations = template.metadata?.annotations ?? {};
  if (labels[INJECT_LABEL] === 'disabled' || annotations[INJECT_LABEL] === 'disabled') return { inject: false, reason: `the pod opts out (${INJECT_LABEL}: disabled)` };
  if (template.spec.hostNetwork === true) return { inject: false, reason: 'the pod uses hostNetwork: interception would capture the node\'s traffic' };
  if (annotations[INJECTED_ANNOTATION] !== undefined || (template.spec.initContainers ?? []).some((c) => c.name === PROXY_CONTAINER)) {
    return { inject: false, reason: 'the pod is already injected' };
  }
  if (namespaceLabels === undefined) return { inject: true };
  if (labels[INJECT_LABEL] === 'enabled' || annotations[INJECT_LABEL] === 'enabled' || namespaceLabels[INJECT_LABEL] === 'enabled') return { inject: true };
  return { inject: false, reason: `neither the pod nor its namespace has ${INJECT_LABEL}: enabled` };
}

/** The service a pod serves: the annotation, its app labels, else its workload's name. */
function serviceName(meta: ObjectMeta, settings: PodSettings, workloadName: string | undefined): string {
  const labels = meta.labels ?? {};
  const name = settings.service ?? labels['app.kubernetes.io/name'] ?? labels.app ?? workloadName ?? meta.name
    ?? meta.generateName?.replace(/-[a-z0-9]{5,10}-?$/, '').replace(/-$/, '');
  return name ?? 'unknown';
}

function appPort(spec: PodSpec, settings: PodSettings): number | undefined {
  if (settings.appPort !== undefined) return settings.appPort;
  for (const container of spec.containers) {
    const port = container.ports?.find((p) => (p.protocol ?? 'TCP') === 'TCP');
    if (port !== undefined) return port.containerPort;
  }
  return undefined;
}

/**
 * The injected template: the iptables init container, then the proxy as a native sidecar (an init
 * container with restartPolicy Always, started before the app's own init containers so they can use
 * the mesh), the projected token and a cache volume. Throws AnnotationError for a bad annotation.
 */
export function injectTemplate(template: PodTemplate, namespace: string, config: InjectorConfig, workloadName?: string, pathPrefix = 'metadata'): PodTemplate {
  const meta = template.metadata ?? {};
  const settings = podSettings(meta.annotations ?? {}, config, pathPrefix);
  const service = serviceName(meta, settings, workloadName);
  const port = appPort(template.spec, settings);
  // The sidecar's drain: its --drain-delay (5 s by default with a control plane) while callers
  // learn it is going, then --drain-grace for requests in flight.
  const graceSeconds = SIDECAR_DRAIN_DELAY_SECONDS + Math.ceil(settings.drainGraceMs / 1000);
  const spec = template.spec;
  return {
    ...template,
    metadata: {
      ...meta,
      annotations: { ...meta.annotations, [INJECTED_ANNOTATION]: 'true' },
    },
    spec: {
      ...spec,
      initContainers: [initContainer(config, settings), proxyContainer(config, settings, service, namespace, port), ...(spec.initContainers ?? [])],
      volumes: [...(spec.volumes ?? []), ...volumes(config)],
      // The pod must outlive the proxy's drain.
      ...((spec.terminationGracePeriodSeconds ?? 30) < graceSeconds + 5 ? { terminationGracePeriodSeconds: graceSeconds + 5 } : {}),
    },
  };
}

function initContainer(config: InjectorConfig, settings: PodSettings): Container {
  const args = ['iptables', '--proxy-uid', String(config.proxyUid), '--inbound-port', String(config.inboundPort),
    '--outbound-port', String(config.outboundPort), '--admin-port', String(config.adminPort)];
  if (settings.skipInboundPorts !== '') args.push('--skip-inbound-ports', settings.skipInboundPorts);
  if (settings.skipOutboundPorts !== '') args.push('--skip-outbound-ports', settings.skipOutboundPorts);
  return {
    name: INIT_CONTAINER,
    image: config.image,
    args,
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    securityContext: {
      runAsUser: 0, runAsNonRoot: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    volumeMounts: [noApiTokenMount],
  };
}

function proxyContainer(config: InjectorConfig, settings: PodSettings, service: string, namespace: string, port: number | undefined): Container {
  const admin = config.adminPort;
  const args = ['sidecar', '--service', service, '--namespace', namespace, '--service-account', '$(SERVICE_ACCOUNT)',
    '--control', sidecarControlUrl(config), '--token-file', `${TOKEN_DIR}/token`, '--cache', `${CACHE_DIR}/snapshot.json`, '--name', '$(POD_NAME)',
    '--advertise', `$(POD_IP):${port ?? config.inboundPort}`, '--inbound-port', String(config.inboundPort),
    '--outbound-port', String(config.outboundPort), '--admin-port', String(admin),
    '--log-level', settings.logLevel, '--drain-grace', `${settings.drainGraceMs}ms`];
  if (port !== undefined) args.push('--app', `127.0.0.1:${port}`);
  const { resources } = settings;
  const fieldEnv = (name: string, fieldPath: string) => ({ name, valueFrom: { fieldRef: { fieldPath } } });
  return {
    name: PROXY_CONTAINER,
    image: config.image,
    restartPolicy: 'Always',
    args,
    env: [
      fieldEnv('POD_NAME', 'metadata.name'), fieldEnv('POD_NAMESPACE', 'metadata.namespace'), fieldEnv('POD_IP', 'status.podIP'),
      // The identity the sidecar asks for; the control plane issues it from the token's own service account.
      fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
      // The root the sidecar pins for the control plane's TLS, until its snapshots bring the bundle.
      ...(config.trustRootsPem === undefined ? [] : [{ name: 'PETREL_CONTROL_CA', value: config.trustRootsPem }]),
    ],
    ports: [{ name: 'petrel-admin', containerPort: admin, protocol: 'TCP' }],
    startupProbe: { httpGet: { path: '/ready', port: admin }, periodSeconds: 1, failureThreshold: 60 },
    readinessProbe: { httpGet: { path: '/ready', port: admin }, periodSeconds: 5 },
    livenessProbe: { httpGet: { path: '/live', port: admin }, periodSeconds: 10, failureThreshold: 3 },
    // /drain answers loopback only: ask from inside the container, then let SIGTERM finish the drain.
    lifecycle: { preStop: { exec: { command: ['node', '-e', `fetch('http://127.0.0.1:${admin}/drain',{method:'POST'}).catch(()=>{})`] } } },
    resources: {
      requests: { cpu: resources.cpuRequest, memory: resources.memoryRequest },
      limits: { cpu: resources.cpuLimit, memory: resources.memoryLimit },
    },
    securityContext: {
      runAsUser: config.proxyUid, runAsGroup: config.proxyUid, runAsNonRoot: true, readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] },
    },
    // Only these: the petrel-audience token, the snapshot cache, and nothing at the default token path.
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: CACHE_VOLUME, mountPath: CACHE_DIR },
      noApiTokenMount,
    ],
  };
}

function volumes(config: InjectorConfig): Record<string, unknown>[] {
  return [
    { name: TOKEN_VOLUME, projected: { sources: [{ serviceAccountToken: { audience: config.tokenAudience, expirationSeconds: 3600, path: 'token' } }] } },
    { name: CACHE_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '16Mi' } },
    // Stays empty: mounted read-only over the default token path (DEFAULT_API_TOKEN_DIR).
    { name: NO_API_TOKEN_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '1Ki' } },
  ];
}
