import { describe, expect, test } from "../../fixtures/test.ts";
import { desiredVersion, type RingTally, RolloutRefused, type RolloutState, startRollout, stepRollout } from "./rollout.ts";

const AT = "2026-01-01T00:00:00.000Z";
const start = (o: Partial<{ advance_share: number; halt_share: number }> = {}) =>
  startRollout({ rings: ["canary", "default"], advance_share: o.advance_share ?? 1, halt_share: o.halt_share ?? 0.5, at: AT });
const tally = (s: RolloutState, rings: Record<string, RingTally>, at = AT) => stepRollout(s, { type: "tally", at, rings });
const ring = (total: number, running: number, failed = 0): RingTally => ({ total, running, failed });

describe("rollout machine", () => {
  test("waits on the canary until the stated share runs the target, then moves to the next ring", () => {
    const s = start({ advance_share: 0.5 });
    const waiting = tally(s, { canary: ring(2, 0), default: ring(3, 0) });
    expect(waiting.effects).toEqual([]);
    expect(waiting.state.ring_index).toBe(0);
    const moved = tally(s, { canary: ring(2, 1), default: ring(3, 0) }, "2026-01-01T00:05:00.000Z");
    expect(moved.effects).toEqual([{ kind: "advanced", ring: "default", ring_index: 1 }]);
    expect(moved.state).toMatchObject({ status: "active", ring_index: 1, updated_at: "2026-01-01T00:05:00.000Z" });
  });

  test("completes when the last ring reaches the share", () => {
    const s = tally(start(), { canary: ring(1, 1), default: ring(2, 0) }).state;
    const done = tally(s, { canary: ring(1, 1), default: ring(2, 2) });
    expect(done.effects).toEqual([{ kind: "completed" }]);
    expect(done.state.status).toBe("completed");
  });

  test("an empty ring is passed at once; rings with no nodes at all complete the rollout", () => {
    const s = tally(start(), {}).state;
    expect(s.status).toBe("completed");
  });

  test("halts by itself when the stated share of a reached ring rolled back or failed", () => {
    const s = start({ halt_share: 0.5 });
    const below = tally(s, { canary: ring(4, 0, 1) });
    expect(below.effects).toEqual([]);
    const halted = tally(s, { canary: ring(4, 0, 2) });
    expect(halted.state.status).toBe("halted");
    expect(halted.effects).toEqual([{ kind: "halted", reason: "2 of 4 nodes in ring canary rolled back or failed", ring: "canary" }]);
  });

  test("failures in a ring not reached yet do not halt (those nodes were never asked)", () => {
    const s = start({ halt_share: 0.1 });
    expect(tally(s, { canary: ring(1, 0), default: ring(5, 0, 5) }).state.status).toBe("active");
  });

  test("paused: no advance, but failures still halt", () => {
    const paused = stepRollout(start(), { type: "pause", at: AT }).state;
    expect(tally(paused, { canary: ring(1, 1) }).state).toEqual(paused);
    expect(tally(paused, { canary: ring(2, 0, 2) }).state.status).toBe("halted");
    const resumed = stepRollout(paused, { type: "resume", at: AT });
    expect(resumed.effects).toEqual([{ kind: "resumed" }]);
    expect(resumed.state.status).toBe("active");
  });

  test("operator commands that do not apply are refused, not ignored", () => {
    const s = start();
    expect(() => stepRollout(s, { type: "resume", at: AT })).toThrow(RolloutRefused);
    const halted = stepRollout(s, { type: "halt", at: AT, reason: "by hand" }).state;
    expect(halted.halted_reason).toBe("by hand");
    expect(() => stepRollout(halted, { type: "pause", at: AT })).toThrow(RolloutRefused);
    expect(() => stepRollout(halted, { type: "halt", at: AT, reason: "again" })).toThrow(RolloutRefused);
    expect(tally(halted, { canary: ring(1, 1) }).effects).toEqual([]);
  });

  test("what a node is asked to run: reached rings the target, the rest the previous version, everyone back after a halt", () => {
    const s = start();
    const r = { state: s, from: "1.0.0", to: "2.0.0" };
    expect(desiredVersion("1.0.0", r, "canary")).toBe("2.0.0");
    expect(desiredVersion("1.0.0", r, "default")).toBe("1.0.0");
    expect(desiredVersion("1.0.0", r, "unlisted")).toBe("1.0.0");
    const halted = { ...r, state: stepRollout(s, { type: "halt", at: AT, reason: "x" }).state };
    expect(desiredVersion("1.0.0", halted, "canary")).toBe("1.0.0");
    expect(desiredVersion("1.0.0", null, "canary")).toBe("1.0.0");
    expect(desiredVersion(null, null, "canary")).toBe(null);
  });
});
