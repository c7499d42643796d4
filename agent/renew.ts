/**
 * Certificate renewal for one cluster membership. The node certificate is
 * renewed at 2/3 of its lifetime, give or take 1/30 of it drawn from the
 * injected random source (day 19 to 21 of a 30-day certificate): nodes
 * enrolled together do not renew together, and a third of the lifetime is
 * left for retries. A failed attempt is retried after 1 minute, doubling to
 * 1 hour, each wait scaled by a random 0.5–1, and never sooner than a
 * 429's `Retry-After`. Waits are at most an hour at a
 * time, so a host that slept or a clock that jumped renews late, not never.
 *
 * The renewal uses the node's current key (a new CSR for the same key). The
 * state (when, failures, last error) is kept in the agent's store for
 * `status` and goes out with every heartbeat. An expired certificate keeps
 * being renewed: the node proves its key, not its certificate, to the
 * control plane, so a node back from a long outage recovers on its own.
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { AgentError } from "./client.ts";
import type { Clock, Random, Timer } from "./clock.ts";
import type { AgentStore, CertificateRenewalRow } from "./store.ts";
import { backoffDelay, retryAfter } from "./retry.ts";

export const RENEW_AT_FRACTION = 2 / 3;
export const RENEW_JITTER_FRACTION = 1 / 30;
export const RETRY_FIRST_MS = 60_000;
export const RETRY_MAX_MS = 60 * 60_000;
/** The longest single wait: the time is checked again after it. */
export const MAX_WAIT_MS = 60 * 60_000;

export interface CertificateFacts {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  spki: Uint8Array;
}

export function certificateFacts(pem: string): CertificateFacts {
  const cert = new x509.X509Certificate(pem);
  return {
    serial: cert.serialNumber.replace(/^0+/, "").toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    spki: new Uint8Array(cert.publicKey.rawData),
  };
}

/** When to renew a certificate valid from `notBefore` to `notAfter`. */
export function renewalTime(notBefore: Date, notAfter: Date, random: Random): Date {
  const life = notAfter.getTime() - notBefore.getTime();
  const fraction = RENEW_AT_FRACTION + (2 * random() - 1) * RENEW_JITTER_FRACTION;
  return new Date(notBefore.getTime() + Math.round(life * fraction));
}

/** The wait after the `failures`-th failed attempt in a row (1 for the first). */
export function retryDelay(failures: number, random: Random): number {
  return backoffDelay(failures, random, { firstMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS });
}

export type CertificateState = "valid" | "renewal_failing" | "expired";

/** What `status` and the heartbeat say about the certificate. */
export function certificateView(row: CertificateRenewalRow, now: Date) {
  const state: CertificateState = now >= row.notAfter ? "expired" : row.failures > 0 ? "renewal_failing" : "valid";
  return {
    state,
    serial: row.serial,
    not_before: row.notBefore.toISOString(),
    not_after: row.notAfter.toISOString(),
    renew_at: row.renewAt.toISOString(),
    next_attempt_at: row.nextAttemptAt?.toISOString() ?? null,
    renewal_failures: row.failures,
    last_error: row.lastError,
    last_attempt_at: row.lastAttemptAt?.toISOString() ?? null,
    renewed_at: row.renewedAt?.toISOString() ?? null,
  };
}

/** `status`'s view of a membership's certificate, with the renewal state the running agent recorded for it (if any yet). */
export function certificateStatus(pem: string | null, row: CertificateRenewalRow | undefined, now: Date) {
  if (!pem) return null;
  const f = certificateFacts(pem);
  const current: CertificateRenewalRow =
    row && row.serial === f.serial
      ? row
      : {
          clusterId: "",
          serial: f.serial,
          notBefore: f.notBefore,
          notAfter: f.notAfter,
          renewAt: renewalTime(f.notBefore, f.notAfter, () => 0.5),
          nextAttemptAt: null,
          failures: 0,
          lastError: null,
          lastAttemptAt: null,
          renewedAt: row?.renewedAt ?? null,
        };
  return certificateView(current, now);
}

/** The heartbeat's part: flat telemetry keys the console reads. */
export function certificateTelemetry(row: CertificateRenewalRow | undefined, now: Date): Record<string, unknown> {
  if (!row) return {};
  return {
    certificate_not_after: row.notAfter.toISOString(),
    certificate_expired: now >= row.notAfter,
    certificate_renewal_failures: row.failures,
    ...(row.lastError ? { certificate_renewal_error: row.lastError.slice(0, 200) } : {}),
  };
}

export interface RenewalDeps {
  clusterId: string;
  store: AgentStore;
  clock: Clock;
  random: Random;
  /** The certificate in force now. */
  current(): string;
  /** Asks the control plane for a new certificate, checks it and stores it in the membership; returns it. */
  renew(): Promise<string>;
  /** Puts a renewed certificate to use (the mesh); failures here are logged, the renewal stands. */
  use(certPem: string): Promise<void>;
  /** Whether the control plane refuses this node (revoked or disabled): no attempt then. */
  refused(): boolean;
  log: (line: string, fields?: Record<string, unknown>) => void;
}

export class CertificateRenewal {
  private stopped = false;
  private wake: (() => void) | null = null;
  /** Reads and writes of the stored state take turns (the loop and heartbeats both read it). */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: RenewalDeps) {}

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.turn.then(fn);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /** The renewal state of the certificate in force (a new one gets its renewal time drawn). */
  state(): Promise<CertificateRenewalRow> {
    return this.exclusive(() => this.stateNow());
  }

  private async stateNow(): Promise<CertificateRenewalRow> {
    const facts = certificateFacts(this.d.current());
    const row = await this.d.store.certificateRenewal(this.d.clusterId);
    if (row && row.serial === facts.serial) return row;
    const fresh = this.newCertificateState(facts, { lastAttemptAt: null, renewedAt: row?.renewedAt ?? null });
    await this.d.store.saveCertificateRenewal(fresh);
    return fresh;
  }

  /** The renewal state of a certificate just put in force: its renewal time drawn, no failures yet. */
  private newCertificateState(
    facts: { serial: string; notBefore: Date; notAfter: Date },
    times: Pick<CertificateRenewalRow, "lastAttemptAt" | "renewedAt">,
  ): CertificateRenewalRow {
    return {
      clusterId: this.d.clusterId,
      serial: facts.serial,
      notBefore: facts.notBefore,
      notAfter: facts.notAfter,
      renewAt: renewalTime(facts.notBefore, facts.notAfter, this.d.random),
      nextAttemptAt: null,
      failures: 0,
      lastError: null,
      ...times,
    };
  }

  /** Runs until `stop()`: waits for the renewal time, renews, and retries with backoff. */
  async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const s = await this.state();
        const due = (s.nextAttemptAt ?? s.renewAt).getTime() - this.d.clock.now().getTime();
        if (due > 0) await this.sleep(Math.min(due, MAX_WAIT_MS));
        else await this.attempt(s);
      } catch (err) {
        // The store or the certificate itself failed: say so and look again later.
        this.d.log("certificate renewal loop error", { cluster: this.d.clusterId, error: String(err) });
        await this.sleep(RETRY_FIRST_MS);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async attempt(s: CertificateRenewalRow): Promise<void> {
    const at = this.d.clock.now();
    let error: string;
    let asked: number | null = null;
    if (this.d.refused()) {
      error = "the control plane refuses this node";
    } else {
      try {
        const pem = await this.d.renew();
        const facts = certificateFacts(pem);
        await this.exclusive(() => this.d.store.saveCertificateRenewal(this.newCertificateState(facts, { lastAttemptAt: at, renewedAt: at })));
        this.d.log("certificate renewed", {
          cluster: this.d.clusterId,
          serial: facts.serial,
          not_after: facts.notAfter.toISOString(),
          previous_serial: s.serial,
        });
        await this.d.use(pem).catch((err) => this.d.log("renewed certificate not put to use", { cluster: this.d.clusterId, error: String(err) }));
        return;
      } catch (err) {
        error = err instanceof AgentError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
        asked = retryAfter(err);
      }
    }
    const failures = s.failures + 1;
    // Never sooner than a rate-limiting control plane asked.
    const next = new Date(at.getTime() + Math.max(retryDelay(failures, this.d.random), asked ?? 0));
    await this.exclusive(() => this.d.store.saveCertificateRenewal({ ...s, failures, lastError: error, lastAttemptAt: at, nextAttemptAt: next }));
    const expired = at >= s.notAfter;
    this.d.log(expired ? "certificate expired and renewal failed; retrying" : "certificate renewal failed; retrying", {
      cluster: this.d.clusterId,
      failures,
      error,
      next_attempt_at: next.toISOString(),
      not_after: s.notAfter.toISOString(),
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: Timer;
      const done = () => {
        this.wake = null;
        this.d.clock.clearTimeout(timer);
        resolve();
      };
      timer = this.d.clock.setTimeout(done, ms);
      this.wake = done;
      if (this.stopped) done();
    });
  }
}
