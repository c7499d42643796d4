/** The lease timings derived from a TTL keep the owner's own deadline before the lease can end, with room to renew. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { forwardDeadline, leaseTiming, VPN_LEASE_TTL_MS } from "./lease-timing.ts";

describe("VPN lease timing", () => {
  test("the default TTL: renew every 0.75 s, retry every 0.25 s, stop 0.5 s before the earliest end", () => {
    expect(VPN_LEASE_TTL_MS).toBe(3000);
    expect(leaseTiming(VPN_LEASE_TTL_MS)).toEqual({ renewEveryMs: 750, retryMs: 250, driftAllowanceMs: 500 });
    expect(forwardDeadline(10_000, VPN_LEASE_TTL_MS)).toBe(12_500);
  });

  test("for any TTL the deadline comes before the lease can end, after at least two more renewals and several retries", () => {
    for (const ttl of [1000, 2000, 3000, 4000, 9000, 30_000, 3001, 1234]) {
      const t = leaseTiming(ttl);
      const deadline = forwardDeadline(0, ttl);
      expect({ ttl, beforeEnd: deadline < ttl }).toEqual({ ttl, beforeEnd: true });
      // Renewals at renewEvery, then retries: how many tries fit between the first scheduled renewal and the deadline.
      const tries = 1 + Math.floor((deadline - t.renewEveryMs) / t.retryMs);
      expect({ ttl, enoughTries: tries >= 6 }).toEqual({ ttl, enoughTries: true });
      expect(t.driftAllowanceMs / ttl).toBeGreaterThanOrEqual(1 / 6);
    }
  });
});
