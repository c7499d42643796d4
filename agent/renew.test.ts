/**
 * Renewal timing on a manual clock, without a control plane: when a
 * certificate renews (2/3 of its lifetime, ±1/30), how failed attempts back
 * off (1 min doubling to 1 h, scaled 0.5–1), what `status` and heartbeats
 * say, and that an expired certificate still renews.
 */
import { afterAll, describe, expect, test } from "../fixtures/test.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentError } from "./client.ts";
import { AgentStore } from "./store.ts";
import { CertificateRenewal, certificateFacts, certificateStatus, certificateTelemetry, renewalTime, retryDelay } from "./renew.ts";
import { ManualClock } from "../fixtures/clock.ts";
import { nodeCredentials, testCa } from "../fixtures/mesh.ts";
import { waitFor } from "../fixtures/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "rap-renew-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const MIN = 60_000;

describe("renewal timing", () => {
  test("renewal is due at 2/3 of the lifetime, ±1/30 of it by the random draw", () => {
    const from = new Date("2026-01-01T00:00:00Z");
    const until = new Date(from.getTime() + 30 * DAY);
    expect(renewalTime(from, until, () => 0.5)).toEqual(new Date(from.getTime() + 20 * DAY));
    expect(renewalTime(from, until, () => 0)).toEqual(new Date(from.getTime() + 19 * DAY));
    expect(renewalTime(from, until, () => 0.999999).getTime()).toBeCloseTo(from.getTime() + 21 * DAY, -4);
  });

  test("failed attempts wait 1 min doubling to 1 h, scaled 0.5–1 by the random draw", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryDelay(n, () => 0.999999) / MIN).map(Math.round)).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
    expect(retryDelay(1, () => 0)).toBe(30_000);
    expect(retryDelay(10, () => 0)).toBe(30 * MIN);
  });
});

describe("the renewal loop", () => {
  test("renews when due, backs off while the control plane refuses, reports failures and expiry, and renews an expired certificate", async () => {
    const ca = await testCa();
    const start = Date.parse("2026-03-01T00:00:00Z");
    const clock = new ManualClock(start);
    const first = await nodeCredentials(ca, undefined, { issuedAt: new Date(start), validForMs: 30 * DAY });
    const store = await AgentStore.open(join(dir, "loop.db"), clock);
    let current = first.certPem;
    const attempts: number[] = [];
    let failing = true;
    const used: string[] = [];
    const renewal = new CertificateRenewal({
      clusterId: ca.clusterId,
      store,
      clock,
      random: () => 0.5,
      current: () => current,
      refused: () => false,
      log: () => {},
      renew: async () => {
        attempts.push(clock.now().getTime());
        if (failing) throw new AgentError("cluster.partition_minority", "the cluster is a minority partition", 409);
        current = (await nodeCredentials(ca, first.nodeId, { issuedAt: clock.now(), validForMs: 30 * DAY })).certPem;
        return current;
      },
      use: async (pem) => void used.push(pem),
    });
    const running = renewal.run();
    // The loop is the clock's only user here: one pending timer means it is waiting.
    const sleeping = () => waitFor(() => clock.pending === 1, { what: "the loop waiting" });
    const notBefore = certificateFacts(first.certPem).notBefore.getTime();
    const due = notBefore + Math.round((30 * DAY + MIN) * (2 / 3));
    expect((await renewal.state()).renewAt.getTime()).toBe(due);

    // Nothing before the renewal time, although time passes in one-hour waits.
    await sleeping();
    await clock.jump(due - clock.now().getTime() - MIN);
    await sleeping();
    await clock.advanceAsync(MIN - 1);
    expect(attempts).toEqual([]);
    await clock.advanceAsync(1);
    await waitFor(() => attempts.length === 1, { what: "first attempt" });
    // Refused: retried after 45 s, 1.5 min, 3 min… (random 0.5 scales the 1 min doubling by 0.75).
    for (const [i, wait] of [45_000, 90_000, 180_000].entries()) {
      await waitFor(async () => (await store.certificateRenewal(ca.clusterId))?.failures === i + 1, { what: `failure ${i + 1}` });
      await sleeping();
      await clock.advanceAsync(wait - 1);
      expect(attempts).toHaveLength(i + 1);
      await clock.advanceAsync(1);
      await waitFor(() => attempts.length === i + 2, { what: `attempt ${i + 2}` });
    }
    const failingState = (await store.certificateRenewal(ca.clusterId))!;
    await waitFor(async () => (await store.certificateRenewal(ca.clusterId))?.failures === 4, { what: "failure 4" });
    expect(certificateStatus(current, await store.certificateRenewal(ca.clusterId), clock.now())).toMatchObject({
      state: "renewal_failing",
      renewal_failures: 4,
      last_error: "cluster.partition_minority: the cluster is a minority partition",
    });
    expect(failingState.serial).toBe(certificateFacts(first.certPem).serial);

    // Still failing when the certificate expires: status and heartbeats say so.
    await sleeping();
    await clock.jump(certificateFacts(first.certPem).notAfter.getTime() - clock.now().getTime());
    await waitFor(() => attempts.length === 5, { what: "attempt after expiry" });
    await waitFor(async () => (await store.certificateRenewal(ca.clusterId))?.failures === 5, { what: "failure 5" });
    const expired = (await store.certificateRenewal(ca.clusterId))!;
    expect(certificateStatus(current, expired, clock.now())!.state).toBe("expired");
    expect(certificateTelemetry(expired, clock.now())).toEqual({
      certificate_not_after: expired.notAfter.toISOString(),
      certificate_expired: true,
      certificate_renewal_failures: 5,
      certificate_renewal_error: "cluster.partition_minority: the cluster is a minority partition",
    });

    // The control plane issues again: the expired certificate is renewed at the next attempt and put to use.
    failing = false;
    await sleeping();
    await clock.jump(60 * MIN);
    await waitFor(() => used.length === 1, { what: "renewed and used" });
    const renewed = (await store.certificateRenewal(ca.clusterId))!;
    expect(renewed).toMatchObject({ serial: certificateFacts(current).serial, failures: 0, lastError: null, nextAttemptAt: null });
    expect(renewed.renewedAt).toEqual(clock.now());
    expect(certificateStatus(current, renewed, clock.now())!.state).toBe("valid");
    expect(certificateTelemetry(renewed, clock.now())).toEqual({
      certificate_not_after: renewed.notAfter.toISOString(),
      certificate_expired: false,
      certificate_renewal_failures: 0,
    });
    renewal.stop();
    await running;
    store.close();
  });
});
