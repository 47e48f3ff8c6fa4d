// What injection adds to a pod, and the per-pod annotations that change it. Every option has its
// default here; annotations are validated when the pod arrives and a bad one is refused by name.
import { exceedsMaximum, MAX_FLAG_DURATION_MS, parseDuration } from '../../api/duration.ts';
import { parsePortList } from '../../sidecar/interception/iptables-rules.ts';

export const INJECT_LABEL = 'petrel.dev/inject';
export const INJECTED_ANNOTATION = 'petrel.dev/injected';

/** Per-pod annotations (metadata.annotations) that override the defaults. */
export const ANNOTATIONS = {
  service: 'petrel.dev/service',
  appPort: 'petrel.dev/app-port',
  skipInboundPorts: 'petrel.dev/skip-inbound-ports',
  skipOutboundPorts: 'petrel.dev/skip-outbound-ports',
  cpuRequest: 'petrel.dev/proxy-cpu-request',
  memoryRequest: 'petrel.dev/proxy-memory-request',
  cpuLimit: 'petrel.dev/proxy-cpu-limit',
  memoryLimit: 'petrel.dev/proxy-memory-limit',
  logLevel: 'petrel.dev/log-level',
  drainGrace: 'petrel.dev/drain-grace',
} as const;

export interface InjectorConfig {
  /** The image holding the petrel CLI. Default ghcr.io/petrel-mesh/petrel:0.1.0. */
  image: string;
  /** The control plane's config stream. Default http://petrel-control.petrel-system.svc:15010. */
  controlUrl: string;
  /** Audience of the projected ServiceAccount token the sidecar presents. Default "petrel". */
  tokenAudience: string;
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  /** Proxy resources; annotations override each. Defaults 100m / 128Mi requests, 1 CPU / 256Mi limits. */
  resources: { cpuRequest: string; memoryRequest: string; cpuLimit: string; memoryLimit: string };
  logLevel: string;
  /** Drain grace for in-flight requests on shutdown. Default 30 s. */
  drainGraceMs: number;
  /**
   * The mesh's trust roots (PEM). When set, the sidecar pins them for the control plane's TLS
   * (env PETREL_CONTROL_CA) and reaches the config stream over https. Undefined: plaintext stream.
   */
  trustRootsPem: string | undefined;
}

/** The control plane's Service in k8s/: how webhooks and injected sidecars reach it. */
export const CONTROL_SERVICE = 'petrel-control';

/** The config stream as injected sidecars reach it: the control plane's Service in its namespace. */
export function controlStreamUrl(namespace: string, streamPort: number): string {
  return `http://${CONTROL_SERVICE}.${namespace}.svc:${streamPort}`;
}

export const DEFAULT_INJECTOR_CONFIG: InjectorConfig = {
  image: 'ghcr.io/petrel-mesh/petrel:0.1.0',
  controlUrl: controlStreamUrl('petrel-system', 15010),
  tokenAudience: 'petrel',
  proxyUid: 1337,
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15000,
  resources: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '1', memoryLimit: '256Mi' },
  logLevel: 'info',
  drainGraceMs: 30_000,
  trustRootsPem: undefined,
};

/** The config stream URL an injected sidecar uses: https as soon as it has roots to pin. */
export function sidecarControlUrl(config: Pick<InjectorConfig, 'controlUrl' | 'trustRootsPem'>): string {
  return config.trustRootsPem === undefined ? config.controlUrl : config.controlUrl.replace(/^http:\/\//, 'https://');
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/;

/** A bad annotation: the field path and what was wrong with its value. */
export class AnnotationError extends Error {
  readonly code = 'PETREL_BAD_ANNOTATION';
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

export interface PodSettings {
  service: string | undefined;
  appPort: number | undefined;
  skipInboundPorts: string;
  skipOutboundPorts: string;
  resources: InjectorConfig['resources'];
  logLevel: string;
  drainGraceMs: number;
}

/** Reads the annotations over the defaults; throws AnnotationError naming the first bad one. */
export function podSettings(annotations: Record<string, string>, config: InjectorConfig, pathPrefix: string): PodSettings {
  const path = (key: string) => `${pathPrefix}.annotations["${key}"]`;
  const get = (key: string) => annotations[key];
  const check = (key: string, ok: (v: string) => boolean, what: string): string | undefined => {
    const value = get(key);
    if (value !== undefined && !ok(value)) throw new AnnotationError(path(key), `"${value}" is not ${what}`);
    return value;
  };
  // The same parser as `petrel iptables`, so an annotation the webhook accepts never fails in the init container.
  const ports = (key: string): string => {
    const value = get(key);
    if (value === undefined) return '';
    try {
      return parsePortList(key, value).join(',');
    } catch {
      throw new AnnotationError(path(key), `"${value}" is not a comma-separated list of ports`);
    }
  };
  const appPort = check(ANNOTATIONS.appPort, (v) => /^[0-9]{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535, 'a port (1-65535)');
  const quantity = (key: string, fallback: string) => check(key, (v) => QUANTITY.test(v), 'a Kubernetes quantity (e.g. 100m, 128Mi)') ?? fallback;
  const drain = get(ANNOTATIONS.drainGrace);
  let drainGraceMs = config.drainGraceMs;
  if (drain !== undefined) {
    try {
      drainGraceMs = parseDuration(drain);
    } catch (err) {
      throw new AnnotationError(path(ANNOTATIONS.drainGrace), `"${drain}" is not a duration: ${(err as Error).message}`);
    }
    // The sidecar's --drain-grace takes at most 1h: a longer one would leave it crash-looping.
    const tooLong = exceedsMaximum(drain, drainGraceMs, MAX_FLAG_DURATION_MS);
    if (tooLong !== undefined) throw new AnnotationError(path(ANNOTATIONS.drainGrace), tooLong);
  }
  return {
    service: check(ANNOTATIONS.service, (v) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v), 'a DNS-1123 label'),
    appPort: appPort === undefined ? undefined : Number(appPort),
    skipInboundPorts: ports(ANNOTATIONS.skipInboundPorts),
    skipOutboundPorts: ports(ANNOTATIONS.skipOutboundPorts),
    resources: {
      cpuRequest: quantity(ANNOTATIONS.cpuRequest, config.resources.cpuRequest),
      memoryRequest: quantity(ANNOTATIONS.memoryRequest, config.resources.memoryRequest),
      cpuLimit: quantity(ANNOTATIONS.cpuLimit, config.resources.cpuLimit),
      memoryLimit: quantity(ANNOTATIONS.memoryLimit, config.resources.memoryLimit),
    },
    logLevel: check(ANNOTATIONS.logLevel, (v) => LOG_LEVELS.has(v), `a log level (${[...LOG_LEVELS].join(', ')})`) ?? config.logLevel,
    drainGraceMs,
  };
}
