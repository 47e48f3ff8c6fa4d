// Metrics of the sidecar's mesh identity: the certificate's expiry and renewals, and the mTLS
// handshakes on both sides with the reason of each failure (a bounded set: upstream/tls-dial.ts).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TlsObserver } from '../upstream/tls-dial.ts';

export class IdentityMetrics {
  readonly certificateExpiry: Gauge;
  readonly renewals: Counter<'result'>;
  readonly renewalFailing: Gauge;
  readonly handshakes: Counter<'direction'>;
  readonly handshakeErrors: Counter<'direction' | 'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.certificateExpiry = new Gauge({
      name: 'petrel_identity_certificate_expiry_timestamp_seconds', registers,
      help: 'When the workload certificate in use expires (Unix seconds); absent before the first one.',
    });
    this.renewals = new Counter({
      name: 'petrel_identity_renewals_total', registers, labelNames: ['result'],
      help: 'Certificate requests to the control plane, by result (ok, error).',
    });
    this.renewalFailing = new Gauge({
      name: 'petrel_identity_renewal_failing', registers,
      help: '1 while the last certificate request failed (the sidecar serves on its current certificate), else 0.',
    });
    this.handshakes = new Counter({
      name: 'petrel_tls_handshakes_total', registers, labelNames: ['direction'],
      help: 'Mesh mTLS handshakes completed: inbound (callers) and outbound (to other sidecars).',
    });
    this.handshakeErrors = new Counter({
      name: 'petrel_tls_handshake_errors_total', registers, labelNames: ['direction', 'reason'],
      help: 'Mesh mTLS handshakes that failed, by reason (wrong identity, certificate expired, unknown CA, no client certificate, ...).',
    });
  }

  renewal(result: 'ok' | 'error'): void {
    this.renewals.inc({ result });
    this.renewalFailing.set(result === 'ok' ? 0 : 1);
  }

  /** The observer pools and the inbound terminator report to; failures are also logged. */
  observer(log: (fields: object, message: string) => void): TlsObserver {
    return {
      handshake: (direction) => this.handshakes.inc({ direction }),
      handshakeFailed: (direction, reason, peer, err) => {
        this.handshakeErrors.inc({ direction, reason });
        log({ direction, reason, peer, err: err.message }, `mTLS handshake failed (${direction}, ${reason}): ${err.message}`);
      },
    };
  }
}
