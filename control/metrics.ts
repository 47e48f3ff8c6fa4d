// Control-plane metrics (names from DESIGN.md), on the API port's /metrics.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../sidecar/telemetry/process-metrics.ts';

export class ControlMetrics {
  readonly registry = new Registry();
  readonly sidecars: Gauge;
  readonly pushes: Counter;
  readonly pushSeconds: Histogram;
  readonly nacks: Counter;
  readonly rejectedInputs: Gauge;
  readonly certificatesIssued: Counter;
  readonly certificateRejections: Counter<'reason'>;

  constructor(connected: () => number, rejected: () => number) {
    const registers = [this.registry];
    collectProcessMetrics(this.registry);
    this.sidecars = new Gauge({ name: 'petrel_control_sidecars', help: 'Sidecars with an open config stream.', registers, collect() { this.set(connected()); } });
    this.pushes = new Counter({ name: 'petrel_control_pushes_total', help: 'Snapshots pushed to sidecars.', registers });
    this.pushSeconds = new Histogram({
      name: 'petrel_control_push_seconds', help: 'From a config change to the sidecar\'s ACK.', registers,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.nacks = new Counter({ name: 'petrel_control_nacks_total', help: 'Snapshots a sidecar rejected (NACK).', registers });
    this.rejectedInputs = new Gauge({
      name: 'petrel_control_rejected_policies', help: 'Policy inputs (files, resources) rejected; their last good version stays in force.', registers,
      collect() { this.set(rejected()); },
    });
    this.certificatesIssued = new Counter({ name: 'petrel_control_certificates_issued_total', help: 'Workload certificates signed by the mesh CA.', registers });
    this.certificateRejections = new Counter({
      name: 'petrel_control_certificate_requests_rejected_total', registers, labelNames: ['reason'],
      help: 'Certificate requests refused, by reason: unauthenticated, bad_request, bad_csr, rate_limited, too_large, identity_off.',
    });
  }
}
