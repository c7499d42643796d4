import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition } from "xstate";
import { directorySyncMachine, RUN_SYNC, SYNC_TIMER } from "./machine.ts";
import { TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

const schedule = { type: "directory_sync.schedule", organizationId: "org-1", intervalSeconds: 600 } as const;
const types = (actions: unknown[]) => (actions as { type: string }[]).map((a) => a.type);
const params = (actions: unknown[], type: string) => (actions as { type: string; params: unknown }[]).find((a) => a.type === type)?.params;

describe("directory sync machine", () => {
  const [idle] = initialTransition(directorySyncMachine);

  test("scheduling arms the timer with the interval", () => {
    const [s, actions] = transition(directorySyncMachine, idle, schedule);
    expect(s.value).toBe("scheduled");
    expect(s.context).toEqual({ organizationId: "org-1", intervalSeconds: 600 });
    expect(params(actions, TIMER_SCHEDULE)).toEqual({ name: SYNC_TIMER, delayMs: 600_000, event: { type: "directory_sync.due" } });
  });

  test("a due timer asks for a run and arms the next one", () => {
    const [scheduled] = transition(directorySyncMachine, idle, schedule);
    const [s, actions] = transition(directorySyncMachine, scheduled, { type: "directory_sync.due" });
    expect(s.value).toBe("scheduled");
    expect(types(actions)).toEqual([RUN_SYNC, TIMER_SCHEDULE]);
  });

  test("a new interval re-arms the timer", () => {
    const [scheduled] = transition(directorySyncMachine, idle, schedule);
    const [s, actions] = transition(directorySyncMachine, scheduled, { ...schedule, intervalSeconds: 60 });
    expect(s.context.intervalSeconds).toBe(60);
    expect(params(actions, TIMER_SCHEDULE)).toMatchObject({ delayMs: 60_000 });
  });

  test("stopping cancels the timer; idle ignores due timers and stops", () => {
    const [scheduled] = transition(directorySyncMachine, idle, schedule);
    const [s, actions] = transition(directorySyncMachine, scheduled, { type: "directory_sync.stop" });
    expect(s.value).toBe("idle");
    expect(params(actions, TIMER_CANCEL)).toEqual({ name: SYNC_TIMER });
    expect(s.can({ type: "directory_sync.due" })).toBe(false);
    expect(s.can({ type: "directory_sync.stop" })).toBe(false);
  });
});
