// The Grafana dashboards, generated from one place so that every query uses the contract's metric
// names and labels: mesh overview, service, workload and control plane. `npm run generate` writes
// them to k8s/grafana/; a test runs every panel's query against a real Prometheus scraping a local
// mesh under load (HTTP and gRPC) and requires data from each.
//
// gRPC calls are series of petrel_requests_total with a non-empty grpc_status ("0".."16"); plain HTTP
// has grpc_status="". A failed gRPC call usually rides on HTTP 200, so success rates count a request
// as successful when it is HTTP non-5xx *and* has no gRPC status or status 0 (OK).
export interface Panel { title: string; unit: string; targets: { expr: string; legend: string }[] }
export interface Dashboard { uid: string; title: string; variables: ('service' | 'instance')[]; panels: Panel[] }

const R = '$__rate_interval';
const inb = 'direction="inbound",service=~"$service"';
const out = 'direction="outbound",service=~"$service"';
const q = (p: number, sel: string, by: string) =>
  `histogram_quantile(${p}, sum by (le, ${by}) (rate(petrel_request_duration_seconds_bucket{${sel}}[${R}])))`;
const rate = (sel: string, by: string) => `sum by (${by}) (rate(petrel_requests_total{${sel}}[${R}]))`;
/** ok / all, and 0 rather than no data where nothing succeeded (the numerator has no series then). */
const ratio = (ok: string, all: string) => `(${ok} or ${all} * 0) / ${all}`;
/** HTTP non-5xx, and for gRPC calls grpc-status 0 too. */
const successRate = (sel: string, by: string) => ratio(rate(`${sel},code!~"5..",grpc_status=~"|0"`, by), rate(sel, by));
const GRPC = 'grpc_status!=""';
/** gRPC calls that ended with grpc-status 0 (OK) over all gRPC calls. */
const grpcSuccessRate = (sel: string, by: string) => ratio(rate(`${sel},grpc_status="0"`, by), rate(`${sel},${GRPC}`, by));
const grpcCalls = (title: string, sel: string, by: string): Panel => ({
  title, unit: 'reqps', targets: [{ expr: rate(`${sel},${GRPC}`, `${by}, grpc_status`), legend: `{{${by}}} {{grpc_status}}` }],
});
const latency = (title: string, sel: string, by: string): Panel => ({
  title, unit: 's', targets: [0.5, 0.95, 0.99].map((p) => ({ expr: q(p, sel, by), legend: `p${p * 100} {{${by}}}` })),
});

export const DASHBOARDS: Dashboard[] = [
  {
    uid: 'petrel-mesh', title: 'Petrel / Mesh overview', variables: ['service'],
    panels: [
      { title: 'Request rate by service (inbound)', unit: 'reqps', targets: [{ expr: `sum by (service) (rate(petrel_requests_total{${inb}}[${R}]))`, legend: '{{service}}' }] },
      { title: 'Success rate by service (inbound: HTTP non-5xx, gRPC OK)', unit: 'percentunit', targets: [{ expr: successRate(inb, 'service'), legend: '{{service}}' }] },
      grpcCalls('gRPC calls by service and status (inbound)', inb, 'service'),
      { title: 'gRPC success rate by service (inbound, grpc-status 0)', unit: 'percentunit', targets: [{ expr: grpcSuccessRate(inb, 'service'), legend: '{{service}}' }] },
      latency('Latency by service (inbound)', inb, 'service'),
      { title: 'Locally generated responses by flag', unit: 'reqps', targets: [{ expr: `sum by (flags) (rate(petrel_requests_total{service=~"$service",flags!="-"}[${R}]))`, legend: '{{flags}}' }] },
      { title: 'Retries and retry budget', unit: 'reqps', targets: [
        { expr: `sum by (service, peer_service) (rate(petrel_retries_total{service=~"$service"}[${R}]))`, legend: 'retries {{service}} -> {{peer_service}}' },
        { expr: `sum by (service, peer_service) (rate(petrel_retry_budget_exhausted_total{service=~"$service"}[${R}]))`, legend: 'budget exhausted {{service}} -> {{peer_service}}' },
      ] },
      { title: 'Open circuits', unit: 'short', targets: [{ expr: 'sum by (peer_service) (petrel_circuit_state == bool 1)', legend: '{{peer_service}}' }] },
      { title: 'Rate limited and overflow', unit: 'reqps', targets: [
        { expr: `sum by (service, peer_service) (rate(petrel_rate_limited_total{service=~"$service"}[${R}]))`, legend: 'rate limited {{peer_service}}' },
        { expr: `sum by (service, peer_service) (rate(petrel_overflow_total{service=~"$service"}[${R}]))`, legend: 'overflow {{peer_service}}' },
      ] },
      { title: 'Sidecars in sync', unit: 'short', targets: [{ expr: 'sum(petrel_control_sidecars)', legend: 'connected sidecars' }] },
    ],
  },
  {
    uid: 'petrel-service', title: 'Petrel / Service', variables: ['service'],
    panels: [
      { title: 'Inbound requests by caller and code', unit: 'reqps', targets: [{ expr: `sum by (peer_service, code) (rate(petrel_requests_total{${inb}}[${R}]))`, legend: '{{peer_service}} {{code}}' }] },
      { title: 'Outbound requests by destination and code', unit: 'reqps', targets: [{ expr: `sum by (peer_service, code) (rate(petrel_requests_total{${out}}[${R}]))`, legend: '{{peer_service}} {{code}}' }] },
      { title: 'Outbound success rate by destination (HTTP non-5xx, gRPC OK)', unit: 'percentunit', targets: [{ expr: successRate(out, 'peer_service'), legend: '{{peer_service}}' }] },
      grpcCalls('Inbound gRPC calls by caller and status', inb, 'peer_service'),
      grpcCalls('Outbound gRPC calls by destination and status', out, 'peer_service'),
      { title: 'Outbound gRPC success rate by destination (grpc-status 0)', unit: 'percentunit', targets: [{ expr: grpcSuccessRate(out, 'peer_service'), legend: '{{peer_service}}' }] },
      latency('Outbound latency by destination', out, 'peer_service'),
      latency('Inbound latency by route', inb, 'route'),
      { title: 'Retries by reason', unit: 'reqps', targets: [{ expr: `sum by (peer_service, reason) (rate(petrel_retries_total{service=~"$service"}[${R}]))`, legend: '{{peer_service}} {{reason}}' }] },
      { title: 'Circuit state per endpoint (0 closed, 1 open, 2 half-open)', unit: 'short', targets: [{ expr: 'max by (peer_service, endpoint) (petrel_circuit_state)', legend: '{{peer_service}} {{endpoint}}' }] },
      { title: 'Circuit transitions', unit: 'short', targets: [{ expr: `sum by (peer_service, to) (increase(petrel_circuit_transitions_total[5m]))`, legend: '{{peer_service}} -> {{to}}' }] },
    ],
  },
  {
    uid: 'petrel-workload', title: 'Petrel / Workload (sidecars)', variables: ['instance'],
    panels: [
      { title: 'Requests per sidecar', unit: 'reqps', targets: [{ expr: `sum by (instance, direction) (rate(petrel_requests_total{instance=~"$instance"}[${R}]))`, legend: '{{instance}} {{direction}}' }] },
      latency('Latency per sidecar', 'instance=~"$instance"', 'instance'),
      { title: 'Upstream connections', unit: 'short', targets: [{ expr: 'sum by (instance) (petrel_upstream_connections{instance=~"$instance"})', legend: '{{instance}}' }] },
      { title: 'Sidecar memory (resident)', unit: 'bytes', targets: [{ expr: 'process_resident_memory_bytes{job="petrel-sidecars",instance=~"$instance"}', legend: '{{instance}}' }] },
      { title: 'Sidecar CPU', unit: 'percentunit', targets: [{ expr: `rate(process_cpu_seconds_total{job="petrel-sidecars",instance=~"$instance"}[${R}])`, legend: '{{instance}}' }] },
      { title: 'Config version per sidecar', unit: 'none', targets: [{ expr: 'petrel_config_version{instance=~"$instance"}', legend: '{{instance}}' }] },
    ],
  },
  {
    uid: 'petrel-control', title: 'Petrel / Control plane', variables: [],
    panels: [
      { title: 'Connected sidecars', unit: 'short', targets: [{ expr: 'sum(petrel_control_sidecars)', legend: 'sidecars' }] },
      { title: 'Pushes', unit: 'ops', targets: [{ expr: `sum(rate(petrel_control_pushes_total[${R}]))`, legend: 'pushes/s' }] },
      { title: 'Push latency (change to ACK)', unit: 's', targets: [0.5, 0.99].map((p) => ({ expr: `histogram_quantile(${p}, sum by (le) (rate(petrel_control_push_seconds_bucket[5m])))`, legend: `p${p * 100}` })) },
      { title: 'NACKs and rejected policies', unit: 'short', targets: [
        { expr: 'sum(petrel_control_nacks_total)', legend: 'NACKs' },
        { expr: 'sum(petrel_control_rejected_policies)', legend: 'rejected policy inputs' },
      ] },
      { title: 'Config sync: sidecars per config version', unit: 'short', targets: [{ expr: 'count_values("version", petrel_config_version)', legend: 'version {{version}}' }] },
      // Zero for sidecars that never rejected a snapshot (the counter appears with the first rejection).
      { title: 'Snapshots rejected by sidecars (last hour)', unit: 'short', targets: [{ expr: 'sum by (instance) (increase(petrel_config_rejected_total[1h])) or sum by (instance) (petrel_config_version * 0)', legend: '{{instance}}' }] },
    ],
  },
];

/** A Grafana dashboard model (schema 39) for one dashboard. */
export function grafanaJson(d: Dashboard): unknown {
  const templating = d.variables.map((v) => ({
    name: v, type: 'query', datasource: { type: 'prometheus', uid: '${datasource}' }, includeAll: true, multi: true, allValue: '.+',
    query: v === 'service' ? 'label_values(petrel_requests_total, service)' : 'label_values(petrel_config_version, instance)', refresh: 2,
  }));
  return {
    uid: d.uid, title: d.title, schemaVersion: 39, version: 1, editable: true, refresh: '10s', time: { from: 'now-1h', to: 'now' }, tags: ['petrel'],
    templating: { list: [{ name: 'datasource', type: 'datasource', query: 'prometheus' }, ...templating] },
    panels: d.panels.map((p, i) => ({
      id: i + 1, type: 'timeseries', title: p.title, datasource: { type: 'prometheus', uid: '${datasource}' },
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.targets.map((t, j) => ({ refId: String.fromCharCode(65 + j), expr: t.expr, legendFormat: t.legend })),
    })),
  };
}

/** Scrape configuration for a local mesh on the default ports (prometheus.yml). */
export const LOCAL_SCRAPE_CONFIG = `# Prometheus scrape configuration for a local Petrel mesh on the default ports.
# Generated by \`npm run generate\` (api/dashboards.ts). Add one target per sidecar admin port.
scrape_configs:
  - job_name: petrel-sidecars
    scrape_interval: 10s
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:15000']
  - job_name: petrel-control
    scrape_interval: 10s
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:15014']
`;

/** Scrape configuration for Kubernetes: sidecars by their admin port, the control plane by its Service. */
export const KUBERNETES_SCRAPE_CONFIG = `# Generated by \`npm run generate\` (api/dashboards.ts). Mount as prometheus.yml, or merge the jobs.
apiVersion: v1
kind: ConfigMap
metadata:
  name: petrel-prometheus-scrape
  namespace: petrel-system
  labels: { app.kubernetes.io/part-of: petrel }
data:
  petrel-scrape.yml: |
    scrape_configs:
      - job_name: petrel-sidecars
        kubernetes_sd_configs: [{ role: pod }]
        relabel_configs:
          - source_labels: [__meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_number]
            regex: petrel-sidecar;15000
            action: keep
          - source_labels: [__meta_kubernetes_namespace]
            target_label: namespace
          - source_labels: [__meta_kubernetes_pod_name]
            target_label: pod
      - job_name: petrel-control
        kubernetes_sd_configs: [{ role: endpoints, namespaces: { names: [petrel-system] } }]
        relabel_configs:
          - source_labels: [__meta_kubernetes_service_name, __meta_kubernetes_endpoint_port_name]
            regex: petrel-control;api
            action: keep
`;
