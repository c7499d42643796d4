/** Pure transition tests of the node machine. */
import { describe, expect, test } from "bun:test";
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
  test("enrolment makes a pending node that only activation or revocation moves", () => {
    const s = run(enroll);
    expect(s.value).toBe("pending");
    expect(s.context).toMatchObject({ clusterId: "c", name: "n1", health: "healthy" });
    expect(accepted(s)).toEqual(["node.activate", "node.revoke"]);
  });

  test("active ⇄ draining, disable and enable, with the reason kept", () => {
    expect(accepted(run(enroll, { type: "node.activate" }))).toEqual(["node.disable", "node.drain", "node.health", "node.revoke"]);
    expect(run(enroll, { type: "node.activate" }, { type: "node.drain" }, { type: "node.activate" }).value).toBe("active");
    const disabled = run(enroll, { type: "node.activate" }, { type: "node.disable", reason: "maintenance" });
    expect(disabled.value).toBe("disabled");
    expect(disabled.context.disabledReason).toBe("maintenance");
    expect(accepted(disabled)).toEqual(["node.enable", "node.revoke"]);
    expect(run(enroll, { type: "node.activate" }, { type: "node.disable", reason: "m" }, { type: "node.enable" }).context.disabledReason).toBeNull();
  });

  test("health changes only when it differs", () => {
    const stale = run(enroll, { type: "node.activate" }, { type: "node.health", health: "stale" });
    expect(stale.context.health).toBe("stale");
    expect(stale.can({ type: "node.health", health: "stale" })).toBe(false);
    expect(stale.can({ type: "node.health", health: "offline" })).toBe(true);
  });

  test("liveness: activation watches for stale, stale watches for offline, disable stops watching", () => {
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
    expect(timers(enroll, { type: "node.activate" }, { type: "node.disable", reason: "x" })).toEqual([["timer.cancel", { name: "liveness" }]]);
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
