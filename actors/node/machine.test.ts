/** Pure transition tests of the node machine. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { nodeMachine, type NodeEvent } from "./machine.ts";

const enroll: NodeEvent = {
  type: "node.enroll",
  clusterId: "c",
  name: "n1",
  capabilities: { can_route_mesh: true },
  facts: { os: "linux" },
  joinRequestId: "j",
};
const ALL: NodeEvent[] = [
  enroll,
  { type: "node.activate" },
  { type: "node.drain" },
  { type: "node.disable", reason: "maintenance" },
  { type: "node.enable" },
  { type: "node.revoke", reason: "stolen" },
  { type: "node.health", health: "stale" },
];

function run(...events: NodeEvent[]): AnyMachineSnapshot {
  let [s] = initialTransition(nodeMachine);
  for (const e of events) {
    expect(s.can(e)).toBe(true);
    [s] = transition(nodeMachine, s, e);
  }
  return s;
}
const accepted = (s: AnyMachineSnapshot) =>
  ALL.filter((e) => s.can(e))
    .map((e) => e.type)
    .sort();

describe("node machine", () => {
  test("enrolment makes a pending node that only activation or revocation moves; its health follows liveness", () => {
    const s = run(enroll);
    expect(s.value).toBe("pending");
    expect(s.context).toMatchObject({ clusterId: "c", name: "n1", health: "healthy" });
    expect(accepted(s)).toEqual(["node.activate", "node.health", "node.revoke"]);
  });

  test("active ⇄ draining, disable and enable, with the reason kept", () => {
    expect(accepted(run(enroll, { type: "node.activate" }))).toEqual(["node.disable", "node.drain", "node.health", "node.revoke"]);
    expect(run(enroll, { type: "node.activate" }, { type: "node.drain" }, { type: "node.activate" }).value).toBe("active");
    const disabled = run(enroll, { type: "node.activate" }, { type: "node.disable", reason: "maintenance" });
    expect(disabled.value).toBe("disabled");
    expect(disabled.context.disabledReason).toBe("maintenance");
    expect(accepted(disabled)).toEqual(["node.enable", "node.health", "node.revoke"]);
    expect(run(enroll, { type: "node.activate" }, { type: "node.disable", reason: "m" }, { type: "node.enable" }).context.disabledReason).toBeNull();
  });

  test("health changes only when it differs", () => {
    const stale = run(enroll, { type: "node.activate" }, { type: "node.health", health: "stale" });
    expect(stale.context.health).toBe("stale");
    expect(stale.can({ type: "node.health", health: "stale" })).toBe(false);
    expect(stale.can({ type: "node.health", health: "offline" })).toBe(true);
  });

  test("liveness: activation watches for stale, stale watches for offline, revocation stops watching", () => {
    const timers = (...events: NodeEvent[]) => {
      let [s] = initialTransition(nodeMachine);
      let actions: { type: string; params?: unknown }[] = [];
      for (const e of events) [s, actions] = transition(nodeMachine, s, e) as [AnyMachineSnapshot, typeof actions];
      return actions.filter((a) => a.type.startsWith("timer.")).map((a) => [a.type, a.params]);
    };
    expect(timers(enroll, { type: "node.activate" })).toEqual([
      ["timer.schedule", { name: "liveness", delayMs: 90_000, event: { type: "node.health", health: "stale" } }],
    ]);
    expect(timers(enroll, { type: "node.activate" }, { type: "node.health", health: "stale" })).toEqual([
      ["timer.schedule", { name: "liveness", delayMs: 210_000, event: { type: "node.health", health: "offline" } }],
    ]);
    expect(timers(enroll, { type: "node.activate" }, { type: "node.revoke", reason: "x" })).toEqual([["timer.cancel", { name: "liveness" }]]);
  });

  test("liveness whatever the enrolment state: a pending node is watched from enrolment, a disabled one keeps its watch", () => {
    const step = (s: AnyMachineSnapshot, e: NodeEvent) => {
      const [next, actions] = transition(nodeMachine, s, e) as [AnyMachineSnapshot, { type: string; params?: unknown }[]];
      return { s: next, timers: actions.filter((a) => a.type.startsWith("timer.")).map((a) => [a.type, a.params]) };
    };
    const stale = { type: "node.health", health: "stale" } as const;
    const offline = { type: "node.health", health: "offline" } as const;
    // Approved, but the agent never takes its identity: stale after 90 s, offline after 300 s.
    let r = step(initialTransition(nodeMachine)[0], enroll);
    expect(r.timers).toEqual([["timer.schedule", { name: "liveness", delayMs: 90_000, event: stale }]]);
    r = step(r.s, stale);
    expect([r.s.value, r.s.context.health]).toEqual(["pending", "stale"]);
    expect(r.timers).toEqual([["timer.schedule", { name: "liveness", delayMs: 210_000, event: offline }]]);
    r = step(r.s, offline);
    expect([r.s.value, r.s.context.health]).toEqual(["pending", "offline"]);
    expect(r.timers).toEqual([["timer.cancel", { name: "liveness" }]]);
    // It picks its identity up late: active, still offline until a heartbeat says otherwise.
    r = step(r.s, { type: "node.activate" });
    expect([r.s.value, r.s.context.health]).toEqual(["active", "offline"]);
    r = step(r.s, { type: "node.health", health: "healthy" });
    expect(r.timers).toEqual([["timer.schedule", { name: "liveness", delayMs: 90_000, event: stale }]]);

    // Disabled keeps the watch (the agent is refused, so it is not heard from), and enabling does not claim health.
    r = step(r.s, { type: "node.disable", reason: "maintenance" });
    expect(r.timers).toEqual([]);
    r = step(r.s, stale);
    expect([r.s.value, r.s.context.health]).toEqual(["disabled", "stale"]);
    r = step(r.s, { type: "node.enable" });
    expect([r.s.value, r.s.context.health]).toEqual(["active", "stale"]);
    expect(r.timers).toEqual([["timer.schedule", { name: "liveness", delayMs: 210_000, event: offline }]]);
  });

  test("a snapshot persisted before pending nodes followed health still restores and moves on", () => {
    // What the host stored for a pending node before: health healthy, no timer. It now accepts health from the heartbeat writer's timer.
    const old = nodeMachine.resolveState({
      value: "pending",
      context: { clusterId: "c", name: "n1", capabilities: {}, facts: {}, joinRequestId: "j", health: "healthy", disabledReason: null, revokedReason: null },
    });
    const [s] = transition(nodeMachine, old, { type: "node.health", health: "stale" });
    expect(s.context.health).toBe("stale");
    expect(s.value).toBe("pending");
  });

  test("revocation is final from every live state", () => {
    for (const path of [
      [enroll],
      [enroll, { type: "node.activate" }],
      [enroll, { type: "node.activate" }, { type: "node.drain" }],
      [enroll, { type: "node.activate" }, { type: "node.disable", reason: "x" }],
    ] as NodeEvent[][]) {
      const s = run(...path, { type: "node.revoke", reason: "stolen" });
      expect(s.value).toBe("revoked");
      expect(s.status).toBe("done");
      expect(s.context.revokedReason).toBe("stolen");
    }
  });
});
