// The sidecar's workload certificate over its life: the first one before the sidecar turns ready,
// a renewal at 70% of each lifetime, and retries with backoff while renewal fails. A sidecar that
// cannot reach the control plane keeps serving on its certificate until it expires, and says so
// (/ready details, metrics, the ACKs that `petrel status` shows).
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Backoff } from '../policy/backoff.ts';
import type { Random } from '../policy/clock.ts';
import { CertificateError, requestCertificate, type CertificateRequestOptions, type Credentials } from './certificate-request.ts';

/** Share of a certificate's lifetime after which it is renewed. */
export const RENEW_AT = 0.7;
/** Retry backoff while a certificate cannot be had: full jitter from 250 ms up to 30 s. */
const RETRY = { baseMs: 250, maxMs: 30_000 };

export type IdentityState =
  | { readonly kind: 'pending'; readonly error: string | undefined }
  | { readonly kind: 'disabled'; readonly reason: string }
  | { readonly kind: 'ready'; readonly credentials: Credentials; readonly renewalError: string | undefined };

export interface IdentityManagerOptions extends CertificateRequestOptions {
  log: Logger;
  random: Random;
  /** Wall-clock milliseconds (certificate times are wall-clock); Date.now by default. */
  now?: () => number;
  /** Asks for a certificate; requestCertificate by default (tests count or fail calls). */
  fetch?: (o: CertificateRequestOptions) => Promise<Credentials>;
  onRenewal?: (result: 'ok' | 'error') => void;
}

export interface IdentityManager {
  on(event: 'rotated', listener: (credentials: Credentials) => void): this;
  on(event: 'disabled', listener: () => void): this;
}

export class IdentityManager extends EventEmitter {
  readonly #o: IdentityManagerOptions;
  readonly #backoff: Backoff;
  #state: IdentityState = { kind: 'pending', error: undefined };
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #nextRenewalAt: number | undefined;
  #first: Promise<void> | undefined;
  #resolveFirst: (() => void) | undefined;

  constructor(options: IdentityManagerOptions) {
    super();
    this.#o = options;
    this.#backoff = new Backoff('exponential-jitter', RETRY.baseMs, RETRY.maxMs, options.random);
  }

  get state(): IdentityState {
    return this.#state;
  }

  /** When the certificate in use will be renewed (wall-clock ms), once there is one. */
  get nextRenewalAt(): number | undefined {
    return this.#nextRenewalAt;
  }

  get credentials(): Credentials | undefined {
    return this.#state.kind === 'ready' ? this.#state.credentials : undefined;
  }

  /** Starts asking; resolves once the first certificate is held or identity turned out disabled. */
  start(): Promise<void> {
    this.#first ??= new Promise((resolve) => { this.#resolveFirst = resolve; });
    void this.#renew();
    return this.#first;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#resolveFirst?.();
  }

  /** Renews now (tests, and an operator's SIGHUP-style nudge). */
  renewNow(): Promise<void> {
    clearTimeout(this.#timer);
    return this.#renew();
  }

  async #renew(): Promise<void> {
    if (this.#stopped) return;
    const o = this.#o;
    const now = o.now ?? Date.now;
    try {
      const credentials = await (o.fetch ?? requestCertificate)(o);
      if (this.#stopped) return;
      this.#failures = 0;
      // 70% of the lifetime from now, not from notBefore: the CA backdates notBefore by a minute for
      // clock skew, which would otherwise count as lifetime already spent (a 30 s certificate would
      // be renewed after 3 s).
      const start = Math.max(credentials.notBefore, now());
      const renewAt = start + (credentials.notAfter - start) * RENEW_AT;
      this.#nextRenewalAt = renewAt;
      this.#state = { kind: 'ready', credentials, renewalError: undefined };
      o.onRenewal?.('ok');
      o.log.info({ identity: credentials.identity.uri, notAfter: new Date(credentials.notAfter).toISOString(), serial: credentials.serial }, 'workload certificate issued');
      this.#schedule(Math.max(1000, renewAt - now()));
      this.emit('rotated', credentials);
      this.#resolveFirst?.();
    } catch (err) {
      if (this.#stopped) return;
      const error = err instanceof CertificateError ? err : new CertificateError('CONTROL_UNREACHABLE', (err as Error).message);
      if (error.code === 'IDENTITY_DISABLED') {
        this.#state = { kind: 'disabled', reason: error.message };
        o.log.warn({ reason: error.message }, 'no mesh identity: this sidecar talks plaintext to its peers');
        this.emit('disabled');
        this.#resolveFirst?.();
        return;
      }
      o.onRenewal?.('error');
      this.#failures++;
      const current = this.credentials;
      const delay = Math.max(error.retryAfterMs ?? 0, this.#backoff.delay(this.#failures));
      if (current === undefined) this.#state = { kind: 'pending', error: error.message };
      else this.#state = { kind: 'ready', credentials: current, renewalError: error.message };
      const expired = current !== undefined && current.notAfter <= now();
      o.log.warn({ err: error.message, code: error.code, retryInMs: delay, certificateValidUntil: current && new Date(current.notAfter).toISOString(), expired },
        current === undefined ? 'cannot get a workload certificate yet; not ready' : 'certificate renewal failed; serving on the current certificate');
      this.#schedule(delay);
    }
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#renew(), Math.min(ms, 2_147_000_000));
    this.#timer.unref();
  }
}
