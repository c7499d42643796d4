/**
 * The lease keeper over a manual clock: it renews ahead of expiry, stops on
 * its own before the lease can end when renewals do not get through, stops
 * at once when fenced, releases after stopping, and records every change in
 * the history format. The control plane here is a scripted port: the
 * control-plane failover test (control/vpn/failover.test.ts) runs the real one.
 */
import { describe, expect, test } from "../../fixtures/test.ts";
import { ManualClock } from "../../fixtures/clock.ts";
import type { VpnHistoryEvent } from "../../core/contracts/vpn.ts";
import { checkVpnHistory } from "../../core/vpn/history.ts";
import { VPN_LEASE_TTL_MS } from "../../core/vpn/lease-timing.ts";
import { VpnLeaseRunner, type LeasePort, type RenewAnswer } from "./lease-runner.ts";
import { initialKeeper, stepKeeper } from "./lease-keeper.ts";

/** The default TTL (core/vpn/lease-timing.ts): renewals every 0.75 s, retries every 0.25 s, drift allowance 0.5 s. */
const TTL_S = VPN_LEASE_TTL_MS / 1000;

/** A control plane that grants epoch `epoch` to node `a`, and answers renewals as `mode` says at the time they arrive. */
function setup() {
  const clock = new ManualClock();
  const history: VpnHistoryEvent[] = [];
  const forwarding: string[] = [];
  const calls: string[] = [];
  /** [epoch, deadline − t0] handed to the data path, in order. */
  const holds: [number, number][] = [];
  let mode: "ok" | "unreachable" | "refuse" | "drain" = "ok";
  let expiresAt = 0;
  const port: LeasePort = {
    renew: async (connectionId, epoch): Promise<RenewAnswer> => {
      calls.push(`renew@${(clock.now().getTime() - t0) / 1000}`);
      if (mode === "unreachable") throw new Error("connect ECONNREFUSED");
      // Like the lease actor: a renewal at or after the lease's end is refused.
      if (mode === "refuse" || clock.now().getTime() >= expiresAt) return { status: "refused", reason: "not_owner" };
      // The control plane records what it granted, on its own clock (here the same one).
      expiresAt = clock.now().getTime() + TTL_S * 1000;
      history.push({
        kind: "lease.renewed",
        connection_id: connectionId,
        node_id: "a",
        epoch,
        at: clock.now().toISOString(),
        expires_at: new Date(expiresAt).toISOString(),
      });
      return { status: "renewed", ttl_seconds: TTL_S, release_requested: mode === "drain" };
    },
    release: async (connectionId, epoch) => {
      calls.push(`release@${(clock.now().getTime() - t0) / 1000}`);
      history.push({ kind: "lease.released", connection_id: connectionId, node_id: "a", epoch, at: clock.now().toISOString() });
    },
  };
  const t0 = clock.now().getTime();
  const runner = new VpnLeaseRunner(
    { connectionId: "c1", nodeId: "a" },
    clock,
    port,
    {
      start: (_c, e) => forwarding.push(`start ${e}`),
      hold: (_c, e, until) => holds.push([e, until - t0]),
      stop: (_c, e, why) => forwarding.push(`stop ${e} ${why}`),
    },
    (e) => history.push(e),
  );
  const grant = (epoch = 1) => {
    expiresAt = clock.now().getTime() + TTL_S * 1000;
    history.push({
      kind: "lease.granted",
      connection_id: "c1",
      node_id: "a",
      epoch,
      at: clock.now().toISOString(),
      expires_at: new Date(expiresAt).toISOString(),
    });
    runner.assign(epoch, TTL_S * 1000);
  };
  return { clock, runner, history, forwarding, calls, holds, grant, setMode: (m: typeof mode) => (mode = m), lastExpiry: () => expiresAt, t0 };
}

describe("VPN lease keeper", () => {
  test("forwarding starts only after the first renewal succeeds, then renewals come every quarter of a TTL", async () => {
    const k = setup();
    k.grant();
    expect(k.runner.phase).toBe("acquiring");
    await k.clock.advanceAsync(0);
    expect(k.runner.phase).toBe("forwarding");
    expect(k.forwarding).toEqual(["start 1"]);
    await k.clock.advanceAsync(3_000);
    expect(k.calls).toEqual(["renew@0", "renew@0.75", "renew@1.5", "renew@2.25", "renew@3"]);
    expect(k.runner.phase).toBe("forwarding");
    // Each accepted renewal hands the data path its deadline: sent at s, TTL 3 s, drift allowance 0.5 s.
    expect(k.holds).toEqual([
      [1, 2500],
      [1, 3250],
      [1, 4000],
      [1, 4750],
      [1, 5500],
    ]);
    expect(checkVpnHistory(k.history)).toEqual([]);
  });

  test("cut off from the control plane: it retries, then stops on its own a drift allowance before the lease can end", async () => {
    const k = setup();
    k.grant();
    await k.clock.advanceAsync(0);
    k.setMode("unreachable");
    await k.clock.advanceAsync(2_400);
    expect(k.runner.phase).toBe("forwarding");
    expect(k.holds).toEqual([[1, 2500]]);
    await k.clock.advanceAsync(100);
    // Last good renewal sent at 0: TTL 3 s, drift allowance 0.5 s.
    expect(k.runner.phase).toBe("stopped");
    expect(k.forwarding).toEqual(["start 1", "stop 1 cannot_renew"]);
    const stopped = k.history.find((e) => e.kind === "forward.stopped")!;
    expect(Date.parse(stopped.at)).toBe(k.t0 + 2500);
    expect(Date.parse(stopped.at)).toBeLessThan(k.lastExpiry());
    expect(k.calls.slice(0, 5)).toEqual(["renew@0", "renew@0.75", "renew@1", "renew@1.25", "renew@1.5"]);
    // The control plane then lets the lease expire; the history shows no forwarding past it.
    k.history.push({ kind: "lease.expired", connection_id: "c1", node_id: "a", epoch: 1, at: new Date(k.lastExpiry()).toISOString() });
    expect(checkVpnHistory(k.history, { until: new Date(k.t0 + 20_000).toISOString() })).toEqual([]);
  });

  test("a renewal that gets through in time after failures resumes forwarding under the same epoch", async () => {
    const k = setup();
    k.grant();
    await k.clock.advanceAsync(0);
    k.setMode("unreachable");
    await k.clock.advanceAsync(2_450);
    k.setMode("ok");
    // At 2.5 s it stops (the deadline) and retries in the same instant; the control plane still holds its lease (until 3 s).
    await k.clock.advanceAsync(50);
    expect(k.runner.phase).toBe("forwarding");
    expect(k.forwarding).toEqual(["start 1", "stop 1 cannot_renew", "start 1"]);
    expect(checkVpnHistory(k.history)).toEqual([]);
  });

  test("a renewal answered after the deadline passed (its stop not yet ticked): stopped at the deadline, where the data path closed, then resumed", () => {
    const cfg = { connectionId: "c1", nodeId: "a" };
    const forwarding = { ...initialKeeper, phase: "forwarding" as const, epoch: 2, ttlMs: 3000, deadline: 10_000, renewAt: 9_750, inFlight: 9_600 };
    const [next, out] = stepKeeper(cfg, forwarding, { type: "renew_ok", sentAt: 9_600, ttlMs: 3000, releaseRequested: false, at: 10_200 });
    expect(next.phase).toBe("forwarding");
    expect(next.deadline).toBe(9_600 + 2_500);
    const records = out.flatMap((o) => (o.type === "record" ? [[o.event.kind, Date.parse(o.event.at)]] : []));
    expect(records).toEqual([
      ["forward.stopped", 10_000],
      ["forward.started", 10_200],
    ]);
    expect(out.filter((o) => o.type !== "record")).toEqual([
      { type: "stop_forwarding", epoch: 2, reason: "cannot_renew" },
      { type: "start_forwarding", epoch: 2 },
      { type: "hold_forwarding", epoch: 2, until: 12_100 },
    ]);
  });

  test("a refused renewal (fenced, or a newer epoch owns it) stops forwarding at once and for good", async () => {
    const k = setup();
    k.grant();
    await k.clock.advanceAsync(0);
    k.setMode("refuse");
    await k.clock.advanceAsync(3_000);
    expect(k.runner.phase).toBe("stopped");
    expect(k.forwarding).toEqual(["start 1", "stop 1 fenced"]);
    k.setMode("ok");
    k.runner.assign(1, TTL_S * 1000);
    await k.clock.advanceAsync(20_000);
    expect(k.forwarding).toEqual(["start 1", "stop 1 fenced"]);
    k.grant(2);
    await k.clock.advanceAsync(0);
    expect(k.forwarding.at(-1)).toBe("start 2");
  });

  test("drain: asked to release in a renewal answer, it stops forwarding before it releases", async () => {
    const k = setup();
    k.grant();
    await k.clock.advanceAsync(0);
    k.setMode("drain");
    await k.clock.advanceAsync(3_000);
    expect(k.runner.phase).toBe("releasing");
    expect(k.forwarding).toEqual(["start 1", "stop 1 released"]);
    const kinds = k.history.map((e) => e.kind);
    expect(kinds.indexOf("forward.stopped")).toBeLessThan(kinds.indexOf("lease.released"));
    expect(checkVpnHistory(k.history)).toEqual([]);
  });

  test("unassigned by the snapshot: it stops and schedules nothing more", async () => {
    const k = setup();
    k.grant();
    await k.clock.advanceAsync(0);
    k.runner.unassign();
    expect(k.forwarding).toEqual(["start 1", "stop 1 unassigned"]);
    const before = k.calls.length;
    await k.clock.advanceAsync(30_000);
    expect(k.calls.length).toBe(before);
    expect(k.clock.pending).toBe(0);
  });
});
