/** Pure transition tests of the remote session machine: every state, guard, timer and forbidden event. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { remoteSessionMachine, controllerOf, MAX_ENDED_ATTACHMENTS, type RemoteSessionContext, type RemoteSessionEvent } from "./machine.ts";

const T0 = "2026-01-01T00:00:00.000Z";
const at = (s: number) => new Date(Date.parse(T0) + s * 1000).toISOString();
const start: RemoteSessionEvent = {
  type: "session.start",
  organizationId: "org",
  resourceId: "res",
  resourceName: "db-1",
  protocol: "ssh",
  egressPool: "office",
  clipboard: "bidirectional",
  fileTransfer: "disabled",
  detachedTimeoutMs: 900_000,
  attachmentId: "att-1",
  userId: "u1",
  clientId: "laptop",
  at: T0,
};
const placed: RemoteSessionEvent = {
  type: "session.placed",
  adapterNodeId: "n-adapter",
  entryNodeIds: ["n-entry"],
  entryName: "Main",
  startTimeoutMs: 60_000,
  at: at(1),
};
const started: RemoteSessionEvent = { type: "session.adapter_started", at: at(2) };
const detach = (id = "att-1", s = 10): RemoteSessionEvent => ({ type: "session.detach", attachmentId: id, at: at(s) });
const attach = (id: string, userId = "u1", clientId = "laptop", s = 20): RemoteSessionEvent => ({
  type: "session.attach",
  attachmentId: id,
  userId,
  clientId,
  at: at(s),
});
const takeover = (id: string, userId = "u1", clientId = "phone", s = 30): RemoteSessionEvent => ({
  type: "session.takeover",
  attachmentId: id,
  userId,
  clientId,
  at: at(s),
});
const terminate: RemoteSessionEvent = { type: "session.terminate", reason: "user", at: at(40) };
const ALL: RemoteSessionEvent[] = [
  start,
  placed,
  started,
  { type: "session.adapter_failed", reason: "boom", at: at(5) },
  { type: "session.adapter_ended", reason: null, at: at(5) },
  attach("att-x", "u2", "other"),
  takeover("att-y"),
  detach(),
  terminate,
  { type: "session.fail", reason: "adapter_node_lost", at: at(5) },
  { type: "session.detached_timeout", at: at(5) },
  { type: "session.stop_timeout", at: at(5) },
];

type Action = { type: string; params?: any };
function run(...events: RemoteSessionEvent[]): { s: AnyMachineSnapshot; actions: Action[] } {
  let [s] = initialTransition(remoteSessionMachine);
  let actions: Action[] = [];
  for (const e of events) {
    expect(s.can(e)).toBe(true);
    [s, actions] = transition(remoteSessionMachine, s, e) as [AnyMachineSnapshot, Action[]];
  }
  return { s, actions };
}
const ctx = (s: AnyMachineSnapshot) => s.context as RemoteSessionContext;
const accepted = (s: AnyMachineSnapshot) => [...new Set(ALL.filter((e) => s.can(e)).map((e) => e.type))].sort();
const timers = (actions: Action[]) => actions.filter((a) => a.type.startsWith("timer.")).map((a) => [a.type, a.params.name, a.params.dueAt ?? null]);

describe("remote session machine", () => {
  test("requested accepts only start; start records the request and the first controller", () => {
    const [s0] = initialTransition(remoteSessionMachine);
    expect(s0.value).toBe("requested");
    expect(accepted(s0)).toEqual(["session.start"]);
    const { s } = run(start);
    expect(s.value).toBe("placing");
    expect(ctx(s)).toMatchObject({ organizationId: "org", resourceId: "res", egressPool: "office", requestedAt: T0, placement: null });
    expect(controllerOf(ctx(s))).toMatchObject({ id: "att-1", userId: "u1", clientId: "laptop", state: "attached" });
    expect(accepted(s)).toEqual(["session.fail", "session.placed", "session.terminate"]);
  });

  test("placed: starting with a start deadline; no node: failed", () => {
    const { s, actions } = run(start, placed);
    expect(s.value).toBe("starting");
    expect(ctx(s).placement).toEqual({ adapterNodeId: "n-adapter", entryNodeIds: ["n-entry"], entryName: "Main" });
    expect(timers(actions)).toEqual([["timer.schedule", "start_timeout", at(61)]]);
    expect(actions.find((a) => a.type === "timer.schedule")!.params.event).toEqual({ type: "session.fail", reason: "start_timeout", at: at(61) });
    const failed = run(start, { type: "session.fail", reason: "no_adapter_node", at: at(1) }).s;
    expect(failed.value).toBe("failed");
    expect(failed.status).toBe("done");
    expect(ctx(failed)).toMatchObject({ failureReason: "no_adapter_node", endedAt: at(1) });
    expect(ctx(failed).attachments[0]).toMatchObject({ state: "ended", endReason: "failed" });
  });

  test("starting: adapter started with a controller → active, without one → detached with its timer", () => {
    const { s, actions } = run(start, placed, started);
    expect(s.value).toBe("active");
    expect(ctx(s).startedAt).toBe(at(2));
    expect(timers(actions)).toEqual([["timer.cancel", "start_timeout", null]]);
    const d = run(start, placed, detach("att-1", 1), started);
    expect(d.s.value).toBe("detached");
    expect(timers(d.actions)).toEqual([
      ["timer.cancel", "start_timeout", null],
      ["timer.schedule", "detached_timeout", at(902)],
    ]);
  });

  test("starting: start timeout, adapter failure and node loss fail it; adapter end terminates it", () => {
    const base = [start, placed];
    expect(run(...base, { type: "session.fail", reason: "start_timeout", at: at(61) }).s.value).toBe("failed");
    const f = run(...base, { type: "session.adapter_failed", reason: "auth refused", at: at(3) }).s;
    expect(ctx(f)).toMatchObject({ failureReason: "adapter_failed", failureDetail: "auth refused" });
    expect(run(...base, { type: "session.adapter_ended", reason: null, at: at(3) }).s.value).toBe("terminated");
    expect(accepted(run(...base).s)).toEqual([
      "session.adapter_ended",
      "session.adapter_failed",
      "session.adapter_started",
      "session.detach",
      "session.fail",
      "session.takeover",
      "session.terminate",
    ]);
  });

  test("active: detach only by the controller; it schedules the detached timeout", () => {
    const { s } = run(start, placed, started);
    expect(s.can(detach("att-other"))).toBe(false);
    const d = run(start, placed, started, detach());
    expect(d.s.value).toBe("detached");
    expect(ctx(d.s).detachedAt).toBe(at(10));
    expect(controllerOf(ctx(d.s))).toBeUndefined();
    expect(ctx(d.s).attachments[0]).toMatchObject({ state: "detached", endReason: "detached", endedAt: at(10) });
    expect(timers(d.actions)).toEqual([["timer.schedule", "detached_timeout", at(910)]]);
    expect(d.actions.find((a) => a.type === "timer.schedule")!.params.event).toEqual({ type: "session.detached_timeout", at: at(910) });
  });

  test("active: the same client reattaches; another client must take over", () => {
    const base = [start, placed, started];
    const { s } = run(...base);
    expect(s.can(attach("att-2", "u1", "phone"))).toBe(false);
    expect(s.can(attach("att-2", "u2", "laptop"))).toBe(false);
    const re = run(...base, attach("att-2")).s;
    expect(re.value).toBe("active");
    expect(controllerOf(ctx(re))!.id).toBe("att-2");
    expect(ctx(re).attachments.find((a) => a.id === "att-1")).toMatchObject({ state: "ended", endReason: "reattached", takenOverBy: null });
  });

  test("takeover: the old controller is recorded as taken over by the new one", () => {
    const { s } = run(start, placed, started, takeover("att-2", "admin", "desk"));
    expect(s.value).toBe("active");
    expect(controllerOf(ctx(s))).toMatchObject({ id: "att-2", userId: "admin", clientId: "desk" });
    expect(ctx(s).attachments.find((a) => a.id === "att-1")).toMatchObject({
      state: "taken_over",
      endReason: "taken_over",
      takenOverBy: "att-2",
      endedAt: at(30),
    });
    // A takeover during start works the same way.
    const early = run(start, placed, takeover("att-3")).s;
    expect(early.value).toBe("starting");
    expect(ctx(early).attachments.find((a) => a.id === "att-1")!.state).toBe("taken_over");
  });

  test("detached: attach or takeover by anyone authorized returns it to active and stops the timer", () => {
    const base = [start, placed, started, detach()];
    for (const e of [attach("att-2", "u1", "phone"), takeover("att-2", "u1", "phone")]) {
      const { s, actions } = run(...base, e);
      expect(s.value).toBe("active");
      expect(controllerOf(ctx(s))!.id).toBe("att-2");
      expect(ctx(s).detachedAt).toBeNull();
      expect(timers(actions)).toEqual([["timer.cancel", "detached_timeout", null]]);
      // Nobody was taken over: the old attachment had already detached.
      expect(ctx(s).attachments.find((a) => a.id === "att-1")!.state).toBe("detached");
    }
    expect(accepted(run(...base).s)).toEqual([
      "session.adapter_ended",
      "session.adapter_failed",
      "session.attach",
      "session.detached_timeout",
      "session.fail",
      "session.takeover",
      "session.terminate",
    ]);
  });

  test("detached timeout → terminating with the stop deadline → terminated when the adapter ends or the deadline passes", () => {
    const { s, actions } = run(start, placed, started, detach(), { type: "session.detached_timeout", at: at(910) });
    expect(s.value).toBe("terminating");
    expect(ctx(s).endReason).toBe("detached_timeout");
    expect(timers(actions)).toEqual([
      ["timer.cancel", "start_timeout", null],
      ["timer.cancel", "detached_timeout", null],
      ["timer.schedule", "stop_timeout", at(940)],
    ]);
    expect(accepted(s)).toEqual(["session.adapter_ended", "session.adapter_failed", "session.fail", "session.stop_timeout"]);
    const ended = run(
      start,
      placed,
      started,
      detach(),
      { type: "session.detached_timeout", at: at(910) },
      { type: "session.adapter_ended", reason: null, at: at(912) },
    );
    expect(ended.s.value).toBe("terminated");
    expect(ctx(ended.s)).toMatchObject({ endReason: "detached_timeout", endedAt: at(912) });
    expect(timers(ended.actions)).toEqual([["timer.cancel", "stop_timeout", null]]);
    expect(
      run(start, placed, started, detach(), { type: "session.detached_timeout", at: at(910) }, { type: "session.stop_timeout", at: at(940) }).s.value,
    ).toBe("terminated");
  });

  test("terminate from starting, active or detached ends every attachment; node loss while terminating still terminates", () => {
    for (const path of [
      [start, placed],
      [start, placed, started],
      [start, placed, started, detach()],
    ]) {
      const { s } = run(...path, terminate);
      expect(s.value).toBe("terminating");
      expect(ctx(s).endReason).toBe("user");
      expect(controllerOf(ctx(s))).toBeUndefined();
    }
    const lost = run(start, placed, started, terminate, { type: "session.fail", reason: "adapter_node_lost", at: at(41) }).s;
    expect(lost.value).toBe("terminated");
    expect(ctx(lost).failureReason).toBeNull();
    // Terminate before placement finished needs no stop.
    expect(run(start, terminate).s.value).toBe("terminated");
  });

  test("active: adapter failure or node loss fails it; adapter end terminates it", () => {
    const base = [start, placed, started];
    const lost = run(...base, { type: "session.fail", reason: "adapter_node_lost", at: at(50) }).s;
    expect(lost.value).toBe("failed");
    expect(ctx(lost)).toMatchObject({ failureReason: "adapter_node_lost", endedAt: at(50) });
    expect(ctx(lost).attachments[0]).toMatchObject({ state: "ended", endReason: "failed" });
    expect(run(...base, { type: "session.adapter_failed", reason: "x", at: at(5) }).s.value).toBe("failed");
    const ended = run(...base, { type: "session.adapter_ended", reason: "exit 0", at: at(5) }).s;
    expect(ended.value).toBe("terminated");
    expect(ctx(ended).endReason).toBe("exit 0");
    expect(accepted(run(...base).s)).toEqual([
      "session.adapter_ended",
      "session.adapter_failed",
      "session.detach",
      "session.fail",
      "session.takeover",
      "session.terminate",
    ]);
  });

  test("terminated and failed are final and accept nothing", () => {
    for (const s of [run(start, terminate).s, run(start, { type: "session.fail", reason: "no_entry_node", at: at(1) }).s]) {
      expect(s.status).toBe("done");
      expect(accepted(s)).toEqual([]);
    }
  });

  test("ended attachments are bounded in context", () => {
    const events: RemoteSessionEvent[] = [start, placed, started];
    for (let i = 0; i < MAX_ENDED_ATTACHMENTS + 5; i++) events.push(takeover(`att-t${i}`, "u1", `c${i}`, 100 + i));
    const { s } = run(...events);
    expect(ctx(s).attachments.filter((a) => a.state !== "attached").length).toBe(MAX_ENDED_ATTACHMENTS);
    expect(controllerOf(ctx(s))!.id).toBe(`att-t${MAX_ENDED_ATTACHMENTS + 4}`);
  });
});

describe("the target a session started with", () => {
  const target = { host: "10.0.0.22", port: 22, verification: "strict" as const };

  test("is kept in context from session.start", () => {
    const [s0] = initialTransition(remoteSessionMachine);
    const [s1] = transition(remoteSessionMachine, s0, { ...start, target } as RemoteSessionEvent);
    expect((s1.context as RemoteSessionContext).target).toEqual(target);
  });

  test("a snapshot persisted before it was recorded still restores and runs (no target)", () => {
    const [s0] = initialTransition(remoteSessionMachine);
    const [s1] = transition(remoteSessionMachine, s0, start);
    const [s2] = transition(remoteSessionMachine, s1, placed);
    const persisted = JSON.parse(JSON.stringify(remoteSessionMachine.getPersistedSnapshot(s2)));
    expect("target" in persisted.context).toBe(false);
    const restored = remoteSessionMachine.resolveState(persisted) as AnyMachineSnapshot;
    const [s3] = transition(remoteSessionMachine, restored, started);
    expect(s3.value).toBe("active");
    expect((s3.context as RemoteSessionContext).target).toBeUndefined();
  });
});
