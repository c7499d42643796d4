/** Pure transition tests of the VPN lease: grant, renew, expire, release, fence, handover to the standby, epochs only growing. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { checkVpnHistory } from "../../core/vpn/history.ts";
import { vpnLeaseMachine, type VpnLeaseContext, type VpnLeaseEvent } from "./machine.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const open: VpnLeaseEvent = { type: "lease.open", connectionId: "c1", organizationId: "o1", ttlMs: 9000 };
const grant = (nodeId: string, s: number, standbyNodeId: string | null = null): VpnLeaseEvent => ({ type: "lease.grant", nodeId, standbyNodeId, at: at(s) });
const renew = (nodeId: string, epoch: number, s: number): VpnLeaseEvent => ({ type: "lease.renew", nodeId, epoch, at: at(s) });
const expire = (epoch: number, s: number): VpnLeaseEvent => ({ type: "lease.expire", epoch, at: at(s) });
const release = (nodeId: string, epoch: number, s: number): VpnLeaseEvent => ({ type: "lease.release", nodeId, epoch, at: at(s) });
const fence = (s: number, keepStandby = true): VpnLeaseEvent => ({ type: "lease.fence", reason: "node_lost", at: at(s), keepStandby });

type Action = { type: string; params?: unknown };
function run(...events: VpnLeaseEvent[]): { s: AnyMachineSnapshot; actions: Action[] } {
  let [s] = initialTransition(vpnLeaseMachine);
  let actions: Action[] = [];
  for (const e of events) {
    expect({ event: e, accepted: s.can(e) }).toEqual({ event: e, accepted: true });
    [s, actions] = transition(vpnLeaseMachine, s, e) as [AnyMachineSnapshot, Action[]];
  }
  return { s, actions };
}
const ctx = (s: AnyMachineSnapshot) => s.context as VpnLeaseContext;
const timers = (actions: Action[]) => actions.filter((a) => a.type.startsWith("timer.")).map((a) => [a.type, a.params]);

describe("VPN lease machine", () => {
  test("a grant takes epoch 1, sets the expiry one TTL on, and schedules the expiry timer at it", () => {
    const { s, actions } = run(open, grant("a", 0, "b"));
    expect(s.value).toBe("held");
    expect(ctx(s)).toMatchObject({ epoch: 1, ownerNodeId: "a", standbyNodeId: "b", expiresAt: at(9), grantedAt: at(0) });
    expect(timers(actions)).toEqual([["timer.schedule", { name: "expiry", dueAt: at(9), event: { type: "lease.expire", epoch: 1, at: at(9) } }]]);
  });

  test("the owner renews ahead of expiry: the end moves, the timer follows, the old timer's event is then refused", () => {
    const { s, actions } = run(open, grant("a", 0), renew("a", 1, 3));
    expect(ctx(s)).toMatchObject({ epoch: 1, expiresAt: at(12), renewedAt: at(3) });
    expect(timers(actions)).toEqual([["timer.schedule", { name: "expiry", dueAt: at(12), event: { type: "lease.expire", epoch: 1, at: at(12) } }]]);
    expect(s.can(expire(1, 9))).toBe(false);
  });

  test("a stale owner's renewal is refused: wrong node, old epoch, or too late", () => {
    const { s } = run(open, grant("a", 0));
    expect(s.can(renew("b", 1, 3))).toBe(false);
    expect(s.can(renew("a", 0, 3))).toBe(false);
    expect(s.can(renew("a", 2, 3))).toBe(false);
    expect(s.can(renew("a", 1, 9))).toBe(false);
    const after = run(open, grant("a", 0), expire(1, 9), grant("b", 9)).s;
    expect(after.can(renew("a", 1, 10))).toBe(false);
    expect(after.can(renew("b", 2, 10))).toBe(true);
  });

  test("expiry without a standby leaves the lease vacant; the next grant takes the next epoch", () => {
    const vacant = run(open, grant("a", 0), expire(1, 9));
    expect(vacant.s.value).toBe("vacant");
    expect(ctx(vacant.s)).toMatchObject({ epoch: 1, ownerNodeId: null, lastEndReason: "expired" });
    const again = run(open, grant("a", 0), expire(1, 9), grant("a", 10));
    expect(ctx(again.s)).toMatchObject({ epoch: 2, ownerNodeId: "a" });
  });

  test("failover: at expiry the standby is granted epoch+1 in the same transition, and counted as a failover", () => {
    const { s, actions } = run(open, grant("a", 0, "b"), renew("a", 1, 3), expire(1, 12));
    expect(s.value).toBe("held");
    expect(ctx(s)).toMatchObject({ epoch: 2, ownerNodeId: "b", standbyNodeId: null, expiresAt: at(21), failovers: 1, lastEndReason: "expired" });
    expect(timers(actions)).toEqual([["timer.schedule", { name: "expiry", dueAt: at(21), event: { type: "lease.expire", epoch: 2, at: at(21) } }]]);
    expect(ctx(s).history.map((h) => [h.kind, h.node_id, h.epoch])).toEqual([
      ["lease.granted", "a", 1],
      ["lease.renewed", "a", 1],
      ["lease.expired", "a", 1],
      ["lease.granted", "b", 2],
    ]);
  });

  test("renewals are counted per term; a term's end keeps the term (owner, epoch, grant, last renewal, renewals) for its one audit row", () => {
    const { s } = run(open, grant("a", 0, "b"), renew("a", 1, 3), renew("a", 1, 6), expire(1, 15));
    expect(ctx(s).renewals).toBe(0);
    expect(ctx(s).endedTerm).toEqual({
      epoch: 1,
      node_id: "a",
      granted_at: at(0),
      last_renewed_at: at(6),
      renewals: 2,
      ended_at: at(15),
      reason: "expired",
    });
    const renewed = run(open, grant("a", 0, "b"), renew("a", 1, 3), expire(1, 12), renew("b", 2, 13)).s;
    expect(ctx(renewed).renewals).toBe(1);
    expect(ctx(renewed).endedTerm).toMatchObject({ epoch: 1, node_id: "a", renewals: 1 });
  });

  test("drain: the owner's release hands over at once, not counted as a failover", () => {
    const { s } = run(open, grant("a", 0, "b"), release("a", 1, 4));
    expect(ctx(s)).toMatchObject({ epoch: 2, ownerNodeId: "b", grantedAt: at(4), failovers: 0, lastEndReason: "released" });
    expect(run(open, grant("a", 0), release("a", 1, 4)).s.value).toBe("vacant");
    expect(run(open, grant("a", 0)).s.can(release("b", 1, 4))).toBe(false);
  });

  test("a fence refuses renewals but grants nobody until the fenced lease runs out or its owner releases", () => {
    const fenced = run(open, grant("a", 0, "b"), fence(2));
    expect(fenced.s.value).toBe("fencing");
    expect(fenced.s.can(renew("a", 1, 3))).toBe(false);
    expect(fenced.s.can(grant("b", 3))).toBe(false);
    expect(fenced.s.can(expire(1, 8))).toBe(false);
    const handed = run(open, grant("a", 0, "b"), fence(2), expire(1, 9));
    expect(ctx(handed.s)).toMatchObject({ epoch: 2, ownerNodeId: "b", lastEndReason: "node_lost" });
    expect(ctx(run(open, grant("a", 0, "b"), fence(2), release("a", 1, 3)).s)).toMatchObject({ epoch: 2, ownerNodeId: "b", grantedAt: at(3) });
    const disabled = run(open, grant("a", 0, "b"), fence(2, false), expire(1, 9));
    expect(disabled.s.value).toBe("vacant");
  });

  test("the standby is never the owner itself", () => {
    expect(ctx(run(open, grant("a", 0, "a")).s).standbyNodeId).toBeNull();
    expect(ctx(run(open, grant("a", 0), { type: "lease.set_standby", nodeId: "a" }).s).standbyNodeId).toBeNull();
    expect(ctx(run(open, grant("a", 0), { type: "lease.set_standby", nodeId: "b" }).s).standbyNodeId).toBe("b");
  });

  test("epochs grow by one across every kind of ending, and the recorded history passes the checker", () => {
    const { s } = run(
      open,
      grant("a", 0, "b"),
      renew("a", 1, 3),
      expire(1, 12),
      { type: "lease.set_standby", nodeId: "c" },
      release("b", 2, 15),
      fence(16),
      expire(3, 24),
      grant("a", 25),
    );
    const c = ctx(s);
    expect(c.epoch).toBe(4);
    const epochs = c.history.filter((h) => h.kind === "lease.granted").map((h) => h.epoch);
    expect(epochs).toEqual([1, 2, 3, 4]);
    expect(c.history.map((h) => h.seq)).toEqual(c.history.map((_, i) => i + 1));
    expect(checkVpnHistory(c.history)).toEqual([]);
  });

  test("retire is final from any open state; nothing opens without a positive TTL", () => {
    expect(run(open, { type: "lease.retire", at: at(0) }).s.status).toBe("done");
    expect(run(open, grant("a", 0), { type: "lease.retire", at: at(1) }).s.status).toBe("done");
    const [s] = initialTransition(vpnLeaseMachine);
    expect(s.can({ ...open, ttlMs: 0 } as VpnLeaseEvent)).toBe(false);
    expect(s.can(grant("a", 0))).toBe(false);
  });
});
