/** Peer selection: hard constraints, class-aware scoring, active/warm/cold sets by profile, recovery order. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { hardConstraint, recoveryOrder, score, selectPeers, TARGETS, type Peer, type SelfContext } from "./peers.ts";

const now = 1_800_000_000_000;
const self: SelfContext = { nodeId: "me", clusterId: "c1", region: "eu", profile: "normal", minority: false, connected: new Set() };

function peer(id: string, over: Partial<Peer> = {}, obs: Partial<Peer["observed"]> = {}): Peer {
  return {
    nodeId: id,
    clusterId: "c1",
    roles: ["relay-node"],
    region: "eu",
    certNotAfter: now + 86_400_000,
    revoked: false,
    bootstrap: false,
    observed: { latencyMs: 10, loss: 0, reliability: 0.99, load: 0.2, bandwidthMbps: 500, recentFailures: 0, lastSuccessAt: now, ...obs },
    ...over,
  };
}

describe("hard constraints", () => {
  test("self, other cluster, revoked, expired certificate, no mesh role and minority newcomers are refused", () => {
    expect(hardConstraint(peer("me"), self, now)).toBe("self");
    expect(hardConstraint(peer("a", { clusterId: "c2" }), self, now)).toBe("other_cluster");
    expect(hardConstraint(peer("a", { revoked: true }), self, now)).toBe("revoked");
    expect(hardConstraint(peer("a", { certNotAfter: now }), self, now)).toBe("certificate_expired");
    expect(hardConstraint(peer("a", { roles: ["vpn-exit"] }), self, now)).toBe("no_mesh_role");
    // Adapters end session streams from entry nodes, so they are mesh peers.
    expect(hardConstraint(peer("a", { roles: ["rdp-worker"] }), self, now)).toBeNull();
    const minority = { ...self, minority: true, connected: new Set(["known"]) };
    expect(hardConstraint(peer("new"), minority, now)).toBe("partition");
    expect(hardConstraint(peer("known"), minority, now)).toBeNull();
  });
});

describe("scoring", () => {
  test("latency alone does not win: a fast but lossy, unreliable peer loses for input", () => {
    const fastLossy = peer("fast", {}, { latencyMs: 2, loss: 0.05, reliability: 0.6 });
    const steady = peer("steady", {}, { latencyMs: 15, loss: 0, reliability: 0.999 });
    expect(score(steady, self, "input")).toBeGreaterThan(score(fastLossy, self, "input"));
  });

  test("bulk classes prefer bandwidth; interactive ones prefer latency", () => {
    const wide = peer("wide", {}, { latencyMs: 40, bandwidthMbps: 1000 });
    const near = peer("near", {}, { latencyMs: 3, bandwidthMbps: 50 });
    expect(score(wide, self, "file_transfer")).toBeGreaterThan(score(near, self, "file_transfer"));
    expect(score(near, self, "input")).toBeGreaterThan(score(wide, self, "input"));
  });

  test("recent failures and an unmeasured peer cost score", () => {
    expect(score(peer("a", {}, { recentFailures: 3 }), self, "fabric_control")).toBeLessThan(score(peer("a"), self, "fabric_control"));
    expect(score(peer("a", {}, { latencyMs: null, bandwidthMbps: null }), self, "fabric_control")).toBeLessThan(score(peer("a"), self, "fabric_control"));
  });
});

describe("peer sets", () => {
  const many = Array.from({ length: 30 }, (_, i) => peer(`p${String(i).padStart(2, "0")}`, {}, { latencyMs: 5 + i }));

  test("targets follow the profile: normal 4 active, relay 12, thin 2; the best are active, the next warm", () => {
    for (const profile of ["normal", "relay", "thin"] as const) {
      const sets = selectPeers(many, { ...self, profile }, now);
      expect(sets.active).toHaveLength(TARGETS[profile].target);
      expect(sets.warm).toHaveLength(TARGETS[profile].warm);
      expect(sets.active[0]).toBe("p00");
    }
  });

  test("bootstrap peers not chosen stay cold; rejected peers are reported with the reason", () => {
    const sets = selectPeers([...many.slice(0, 8), peer("boot", { bootstrap: true }, { latencyMs: 300 }), peer("bad", { revoked: true })], self, now);
    expect(sets.cold).toEqual(["boot"]);
    expect(sets.rejected).toEqual({ bad: "revoked" });
  });

  test("a connected peer keeps its place against a slightly better newcomer", () => {
    const a = peer("incumbent", {}, { latencyMs: 12 });
    const b = peer("newcomer", {}, { latencyMs: 11 });
    const sets = selectPeers([a, b], { ...self, profile: "thin", connected: new Set(["incumbent"]) }, now);
    expect(sets.active[0]).toBe("incumbent");
  });

  test("recovery order is active, warm, bootstrap, config service, then the last snapshot only when allowed", () => {
    const sets = { active: ["a"], warm: ["w"], cold: ["b"], rejected: {} };
    expect(recoveryOrder(sets, true).map((s) => s.step)).toEqual(["active", "warm", "bootstrap", "config_service", "last_snapshot"]);
    expect(recoveryOrder(sets, false).map((s) => s.step)).not.toContain("last_snapshot");
  });
});
