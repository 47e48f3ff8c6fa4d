#!/usr/bin/env node
// The one Petrel CLI. Subcommands live in their layers; this file only parses flags.
import { Argument, Command, Option } from 'commander';
import { MAX_FLAG_DURATION_MS } from '../api/duration.ts';
import { DEFAULT_LIMITS } from '../sidecar/listener/http-listener.ts';
import { DEFAULT_DETECT_TIMEOUT_MS } from '../sidecar/interception/connection-interceptor.ts';
import { DEFAULT_INTERCEPTION } from '../sidecar/interception/iptables-rules.ts';
import { reexecWithSidecarFlags } from '../sidecar/runtime-flags.ts';
import { exitWithError, listenFailure, type ListenerSpec } from './cli-errors.ts';
import { baseUrl, certTtl, durationAtMost, hostPort, port, positiveInt, servicePort, trustDomain, uid } from './flags.ts';
import { readTokenFile, requireDirectory, requireFile } from './preflight.ts';
import { readFile } from 'node:fs/promises';
import { isIdentityName } from '../sidecar/identity/spiffe.ts';

const [major] = process.versions.node.split('.').map(Number);
if ((major ?? 0) < 24) {
  process.stderr.write(`petrel needs Node 24 or newer, this is ${process.version}; run it as "npx petrel" after "make install"\n`);
  process.exit(1);
}

if (process.argv[2] === 'sidecar') reexecWithSidecarFlags();

/** Every duration flag ends up in a timer; see MAX_FLAG_DURATION_MS. */
const duration = durationAtMost(MAX_FLAG_DURATION_MS);

const program = new Command('petrel')
  .description('Petrel: a TypeScript service mesh. A sidecar proxy with resilience policies and a small control plane.')
  // Usage errors are one line and exit 2, so scripts can tell them from a failure to run (exit 1).
  // Subcommands inherit both settings.
  .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, `${usagePrefix()}: `)) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

/** "petrel sidecar" when argv names a subcommand, else "petrel". */
function usagePrefix(): string {
  const sub = program.commands.find((c) => c.name() === process.argv[2]);
  return sub === undefined ? 'petrel' : `petrel ${sub.name()}`;
}

/** The subcommand running, for naming it in an error line. */
let running = '';
program.hook('preAction', (_program, action) => { running = action.name(); });

program.command('sidecar')
  .description('run the sidecar proxy for one service')
  .requiredOption('--service <name>', 'the mesh service this sidecar belongs to')
  .option('--namespace <ns>', 'the namespace of the service', 'default')
  .option('--app <host:port>', 'the local app behind the inbound listener', hostPort)
  .option('--config <file>', 'a static snapshot (YAML or JSON) instead of a control plane; SIGHUP reloads it')
  .option('--control <url>', 'the control plane config stream, e.g. http://127.0.0.1:15010', baseUrl)
  .option('--token-file <file>', 'a file holding the token the control plane expects (a shared secret or a projected ServiceAccount token); re-read on every reconnect')
  .option('--advertise <host:port>', 'the inbound address registered for this service (default 127.0.0.1:<inbound port>)', hostPort)
  .option('--cache <file>', 'keep the last good snapshot here, to serve from it after a restart before the control plane answers')
  .option('--name <name>', 'this sidecar\'s name in `petrel status` (default: the advertised address)')
  .option('--service-port <port>', 'with --control, locally: the port of the service this sidecar\'s app serves; callers reach it as <service>:<port> (in Kubernetes the Service and its EndpointSlices decide)', servicePort, 80)
  .option('--service-account <name>', 'with --control, locally: the service account its certificate names (default: the service); in Kubernetes the projected token decides')
  .option('--control-ca <file>', 'with an https --control: PEM roots to pin for the control plane (default: $PETREL_CONTROL_CA, the PEM the injector sets)')
  .option('--inbound-port <port>', 'inbound listener: calls from other sidecars', port, 15006)
  .option('--inbound-host <host>', 'inbound listener address', '0.0.0.0')
  .option('--outbound-port <port>', "outbound listener: the app's calls to other services", port, 15001)
  .option('--outbound-host <host>', 'outbound listener address', '127.0.0.1')
  .option('--admin-port <port>', 'admin listener: /ready /live /metrics /config_dump', port, 15000)
  .option('--admin-host <host>', 'admin listener address', '0.0.0.0')
  .option('--drain-grace <duration>', 'time in-flight requests get to finish on SIGTERM', duration, 30_000)
  .option('--drain-delay <duration>', 'on SIGTERM, how long to keep accepting after deregistering, while callers learn (default 5s with --control, 0 without)', duration)
  .option('--max-header-size <bytes>', 'largest request head; larger gets 431', positiveInt, DEFAULT_LIMITS.maxHeaderSize)
  .option('--header-timeout <duration>', 'time to receive a request head; then 408', duration, DEFAULT_LIMITS.headersTimeoutMs)
  .option('--keep-alive-timeout <duration>', 'idle downstream keep-alive connections close after this', duration, DEFAULT_LIMITS.keepAliveTimeoutMs)
  .option('--max-connections <n>', 'open downstream connections per listener', positiveInt, DEFAULT_LIMITS.maxConnections)
  .option('--protocol-detect-timeout <duration>', 'a connection redirected by iptables that sends nothing for this long is passed through as opaque TCP (server-first protocols)', duration, DEFAULT_DETECT_TIMEOUT_MS)
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
  .addOption(new Option('--access-log <mode>', 'one JSON line per request on stdout').choices(['off', 'errors', 'all']).default('errors'))
  .action(async (o) => {
    if (o.config !== undefined && o.control !== undefined) program.error('petrel sidecar: give --config or --control, not both');
    if (o.config !== undefined) await requireFile(o.config, '--config', 'give the path of a SidecarSnapshot YAML or JSON file');
    const token = o.tokenFile === undefined ? undefined : await readTokenFile(o.tokenFile);
    if (o.controlCa !== undefined) await requireFile(o.controlCa, '--control-ca', 'give a PEM file of the mesh root (the control plane\'s CA)');
    const controlCa = o.controlCa !== undefined ? await readFile(o.controlCa, 'utf8') : process.env.PETREL_CONTROL_CA || undefined;
    if (o.serviceAccount !== undefined && !isIdentityName(o.serviceAccount)) program.error(`petrel sidecar: --service-account "${o.serviceAccount}" is not a Kubernetes name (lower-case letters, digits, "-" and ".")`);
    const { runSidecar } = await import('../sidecar/main.ts');
    await explainListenErrors([
      { what: 'outbound listener', host: o.outboundHost, port: o.outboundPort, portFlag: '--outbound-port', hostFlag: '--outbound-host' },
      { what: 'inbound listener', host: o.inboundHost, port: o.inboundPort, portFlag: '--inbound-port', hostFlag: '--inbound-host' },
      { what: 'admin listener', host: o.adminHost, port: o.adminPort, portFlag: '--admin-port', hostFlag: '--admin-host' },
    ], () => runSidecar({
      service: o.service, namespace: o.namespace, app: o.app, configFile: o.config,
      control: o.control === undefined ? undefined : {
        url: o.control, token, tokenFile: o.tokenFile,
        advertise: o.advertise, cacheFile: o.cache, name: o.name, ca: controlCa, serviceAccount: o.serviceAccount, servicePort: o.servicePort,
      },
      inboundHost: o.inboundHost, inboundPort: o.inboundPort, outboundHost: o.outboundHost, outboundPort: o.outboundPort,
      adminHost: o.adminHost, adminPort: o.adminPort, drainGraceMs: o.drainGrace, drainDelayMs: o.drainDelay, detectTimeoutMs: o.protocolDetectTimeout, logLevel: o.logLevel, accessLog: o.accessLog,
      limits: { maxHeaderSize: o.maxHeaderSize, headersTimeoutMs: o.headerTimeout, keepAliveTimeoutMs: o.keepAliveTimeout, maxConnections: o.maxConnections },
    }));
  });

program.command('control')
  .description('run the control plane: policies in, one snapshot per sidecar out')
  .option('--policies <dir>', 'a directory of ResiliencePolicy and AccessPolicy YAML files, watched for changes')
  .option('--kubernetes', 'watch ResiliencePolicies and EndpointSlices in Kubernetes')
  .option('--kubeconfig <file>', 'with --kubernetes: a kubeconfig file (default: in-cluster, then ~/.kube/config)')
  .option('--token-review', 'with --kubernetes: accept sidecars\' projected ServiceAccount tokens (audience "petrel"), checked with TokenReview')
  .option('--token-file <file>', 'sidecars must present this shared secret')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--stream-port <port>', 'config stream for sidecars', port, 15010)
  .option('--api-port <port>', 'HTTP API: /v1/status, /metrics, /ready', port, 15014)
  .option('--registration-grace <duration>', 'how long a vanished sidecar\'s endpoint stays registered', duration, 3000)
  .option('--webhook-port <port>', 'serve the admission webhooks over HTTPS here (on by default at 15017 with --kubernetes)', port)
  .option('--webhook-cert-dir <dir>', 'the webhooks\' tls.crt and tls.key (default: in Kubernetes the Secret petrel-webhook-tls, created if absent; else self-signed)')
  .option('--namespace <ns>', 'the control plane\'s own namespace (the webhook and issuer Secrets live there)', process.env.POD_NAMESPACE ?? 'petrel-system')
  .option('--sidecar-image <image>', 'the image injected pods run the sidecar from', process.env.PETREL_IMAGE)
  .option('--startup-grace <duration>', 'after a start, sidecars holding a config get no push until this passes (the registry refills)', duration, 6000)
  .option('--cert-ttl <duration>', 'lifetime of workload certificates (sidecars renew at 70%)', certTtl, 24 * 3_600_000)
  .option('--ca-dir <dir>', 'the mesh issuer: ca.crt + ca.key (or cert-manager\'s tls.crt + tls.key); written here when empty or missing (default: in Kubernetes the Secret petrel-identity-issuer, else in memory)')
  .option('--trust-domain <td>', 'the SPIFFE trust domain of workload identities', trustDomain, 'cluster.local')
  .option('--no-identity', 'issue no certificates and send no trust bundle: sidecars talk plaintext')
  .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'))
  .action(async (o) => {
    if (o.policies !== undefined) await requireDirectory(o.policies, '--policies', 'create it or point --policies at a directory of ResiliencePolicy and AccessPolicy YAML files');
    if (o.kubeconfig !== undefined) await requireFile(o.kubeconfig, '--kubeconfig', 'give the path of a kubeconfig file');
    if (o.webhookCertDir !== undefined) await requireDirectory(o.webhookCertDir, '--webhook-cert-dir', 'point it at a directory holding tls.crt and tls.key');
    const token = o.tokenFile === undefined ? undefined : await readTokenFile(o.tokenFile);
    const webhook = await webhookOptions(o);
    const { runControl } = await import('../control/main.ts');
    const listeners: ListenerSpec[] = [
      { what: 'config stream', host: o.host, port: o.streamPort, portFlag: '--stream-port', hostFlag: '--host' },
      { what: 'HTTP API', host: o.host, port: o.apiPort, portFlag: '--api-port', hostFlag: '--host' },
    ];
    if (webhook !== undefined) listeners.push({ what: 'admission webhooks', host: o.host, port: webhook.port, portFlag: '--webhook-port', hostFlag: '--host' });
    await explainListenErrors(listeners, () => runControl({
      policiesDir: o.policies, kubernetes: o.kubernetes ? { kubeconfig: o.kubeconfig } : undefined, tokenReview: o.tokenReview === true, token,
      host: o.host, streamPort: o.streamPort, apiPort: o.apiPort, debounceMs: 100, registrationGraceMs: o.registrationGrace,
      startupGraceMs: o.startupGrace, webhook,
      identity: o.identity !== false, certTtlMs: o.certTtl, caDir: o.caDir, trustDomain: o.trustDomain, namespace: o.namespace,
    }, o.logLevel));
  });

program.command('status')
  .description('one row per sidecar: service, namespace, address, version, SYNCED|STALE|NACKED, error, last seen')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .option('-o, --output <format>', 'table or json', 'table')
  .option('--token-file <file>', 'the control plane\'s shared secret (needed when it runs with --token-file)')
  .action(async (o) => {
    const { runStatus } = await import('../control/status-command.ts');
    process.exitCode = await runStatus(o.control, o.output, undefined, o.tokenFile);
  });

program.command('check')
  .description('ordered health checks of the mesh, each with a hint when it fails; exit 1 naming the first failure')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
  .option('--token-file <file>', 'the control plane\'s shared secret (needed when it runs with --token-file)')
  .action(async (o) => {
    const { runCheck } = await import('../control/check-command.ts');
    process.exitCode = await runCheck({ control: o.control, output: o.output, tokenFile: o.tokenFile });
  });

program.command('stat')
  .description('golden signals per service and route over the last 30 s (rps, success rate, p50/p95/p99, retries/s), from the sidecars')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'table or json').choices(['table', 'json']).default('table'))
  .option('-w, --watch', 'refresh every 2 s until interrupted')
  .option('--token-file <file>', 'the control plane\'s shared secret (needed when it runs with --token-file)')
  .action(async (o) => {
    const { runStat } = await import('../control/stat-command.ts');
    process.exitCode = await runStat({ control: o.control, output: o.output, tokenFile: o.tokenFile, watch: o.watch === true });
  });

program.command('describe')
  .description('which policy values (each with its source), routes, AccessPolicies and endpoints (breaker, latency) apply to a service or a pod\'s services, and which sidecars hold which version')
  .addArgument(new Argument('<kind>', 'what to describe').choices(['service', 'pod']))
  .argument('<name>', 'the service (or pod) name')
  .option('-n, --namespace <namespace>', 'its namespace', 'default')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
  .option('--token-file <file>', 'the control plane\'s shared secret (needed when it runs with --token-file)')
  .action(async (kind: 'service' | 'pod', name: string, o) => {
    const { runDescribe } = await import('../control/describe-command.ts');
    process.exitCode = await runDescribe({ kind, name, namespace: o.namespace, control: o.control, output: o.output, tokenFile: o.tokenFile });
  });

program.command('tap')
  .description('live requests to and from a service through the sidecars (path without query, no bodies); --explain adds each policy decision')
  .argument('<service>', 'the mesh service to tap')
  .option('-n, --namespace <ns>', 'the service\'s namespace', 'default')
  .option('--duration <duration>', 'stop after this long', duration, 30_000)
  .option('--max <n>', 'stop after this many requests', positiveInt, 100)
  .option('--explain', 'each request\'s route, decisions and attempts in words (retry condition, budget left, backoff)')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'text or json (one JSON object per request)').choices(['text', 'json']).default('text'))
  .option('--token-file <file>', 'the control plane\'s shared secret (tap is privileged: needed when it runs with --token-file)')
  .action(async (service: string, o) => {
    const { runTap } = await import('../control/tap-command.ts');
    process.exitCode = await runTap({
      control: o.control, tokenFile: o.tokenFile, service, namespace: o.namespace, durationMs: o.duration, max: o.max, explain: o.explain === true, output: o.output,
    });
  });

program.command('dashboard')
  .description('the mesh web view (served by petrel control on its API port): print its address, and open it where there is a display')
  .option('--control <url>', 'the control plane API', baseUrl, 'http://127.0.0.1:15014')
  .option('--token-file <file>', 'the control plane\'s shared secret: put into the address\'s fragment, which never reaches a server')
  .option('--no-open', 'print the address only')
  .action(async (o) => {
    const { runDashboard } = await import('../control/dashboard-command.ts');
    process.exitCode = await runDashboard({ control: o.control, tokenFile: o.tokenFile, open: o.open !== false });
  });

program.command('validate')
  .description('validate ResiliencePolicy and SidecarSnapshot files; exit 1 with one line per error')
  .requiredOption('-f, --file <file>', 'a YAML or JSON file (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .action(async (o) => {
    const { runValidate } = await import('../control/validate-command.ts');
    process.exitCode = await runValidate(o.file);
  });

program.command('inject')
  .description('add the Petrel sidecar to the pods and pod templates in Kubernetes manifests (what the webhook does), printed to stdout')
  .requiredOption('-f, --file <file>', 'a YAML file of one or more documents, or - for stdin')
  .option('--image <image>', 'the petrel image for the sidecar and init containers')
  .option('--control-url <url>', 'the control plane config stream the sidecar subscribes to', baseUrl)
  .option('--control-ca <file>', 'the mesh root (PEM) the sidecar pins for the control plane\'s TLS; the config stream becomes https')
  .action(async (o) => {
    const { runInject } = await import('../control/injection/inject-command.ts');
    process.exitCode = await runInject(o.file, { image: o.image, controlUrl: o.controlUrl, controlCaFile: o.controlCa });
  });

program.command('iptables')
  .description('write the nat rules that redirect a pod\'s TCP traffic to the sidecar (run as root with NET_ADMIN)')
  .option('--dry-run', 'print the rules instead of applying them')
  .option('--cleanup', 'remove the rules and chains instead of writing them')
  .option('--proxy-uid <uid>', 'the sidecar\'s uid; its own connections are never redirected', uid, DEFAULT_INTERCEPTION.proxyUid)
  .option('--inbound-port <port>', 'inbound connections are redirected here', port, DEFAULT_INTERCEPTION.inboundPort)
  .option('--outbound-port <port>', 'outbound connections are redirected here', port, DEFAULT_INTERCEPTION.outboundPort)
  .option('--admin-port <port>', 'the sidecar admin port, never redirected', port, DEFAULT_INTERCEPTION.adminPort)
  .option('--skip-inbound-ports <ports>', 'comma-separated destination ports on this pod that bypass the sidecar', '')
  .option('--skip-outbound-ports <ports>', 'comma-separated destination ports of outgoing connections that bypass the sidecar', '')
  .addOption(new Option('--backend <backend>', 'iptables backend (default: the one already holding rules, else nft)').choices(['nft', 'legacy']))
  .action(async (o) => {
    const { runIptables } = await import('../sidecar/interception/iptables-command.ts');
    process.exitCode = await runIptables({
      proxyUid: o.proxyUid, inboundPort: o.inboundPort, outboundPort: o.outboundPort, adminPort: o.adminPort,
      skipInboundPorts: o.skipInboundPorts, skipOutboundPorts: o.skipOutboundPorts, dryRun: o.dryRun === true,
      cleanup: o.cleanup === true, backend: o.backend,
    });
  });

program.command('demo')
  .description('a local mesh with a flaky service, driven by load, explained as it runs')
  .option('--requests <n>', 'requests to drive through the mesh', positiveInt, 2000)
  .option('--keep', 'at the end, keep the mesh up (under light load, for the web view) until Enter; on a terminal it always does')
  .action(async (o) => {
    const { runDemo } = await import('../demo/demo.ts');
    process.exitCode = await runDemo({ requests: o.requests, keep: o.keep === true });
  });

async function webhookOptions(o: { webhookPort?: number; kubernetes?: boolean; webhookCertDir?: string; namespace: string; sidecarImage?: string; streamPort: number }) {
  const webhookPort = o.webhookPort ?? (o.kubernetes === true ? 15017 : undefined);
  if (webhookPort === undefined) return undefined;
  const { controlStreamUrl, DEFAULT_INJECTOR_CONFIG } = await import('../control/injection/injection-config.ts');
  return {
    port: webhookPort, certDir: o.webhookCertDir, namespace: o.namespace,
    injector: {
      ...DEFAULT_INJECTOR_CONFIG,
      image: o.sidecarImage ?? DEFAULT_INJECTOR_CONFIG.image,
      controlUrl: controlStreamUrl(o.namespace, o.streamPort),
    },
  };
}

/** Starts a server-running command; a port it cannot take becomes a sentence naming the flag. */
async function explainListenErrors(listeners: readonly ListenerSpec[], start: () => Promise<void>): Promise<void> {
  try {
    await start();
  } catch (err) {
    throw listenFailure(err, listeners) ?? err;
  }
}

try {
  await program.parseAsync();
} catch (err) {
  exitWithError(running, err);
}
