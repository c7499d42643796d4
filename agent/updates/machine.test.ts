import { describe, expect, test } from "../../fixtures/test.ts";
import { initialStatus, recover, step, type UpdateEvent, type UpdateStatus, workOf } from "./machine.ts";

const at = "2026-11-29T00:00:00.000Z";
const run = (s: UpdateStatus, ...events: UpdateEvent[]): UpdateStatus => events.reduce(step, s);
const idle = initialStatus("1.0.0", at);
const toStaging: UpdateEvent[] = [
  { type: "desired", version: "2.0.0", at },
  { type: "checked", migration: false, at },
  { type: "downloaded", at },
  { type: "verified", at },
];

/** Desired, checked with a signed migration, downloaded, verified and staged: where migrating starts. */
const stagedWithMigration = () =>
  run(
    idle,
    { type: "desired", version: "2.0.0", at },
    { type: "checked", migration: true, at },
    { type: "downloaded", at },
    { type: "verified", at },
    { type: "staged", at },
  );

describe("update machine", () => {
  test("a good update walks every state to running and becomes known good", () => {
    const states: string[] = [];
    let s = idle;
    for (const e of [...toStaging, { type: "staged", at }, { type: "started", at }, { type: "healthy", at }, { type: "promoted", at }] as UpdateEvent[]) {
      s = step(s, e);
      states.push(s.state);
    }
    expect(states).toEqual(["checking", "downloading", "verifying", "staging", "starting", "health_checking", "promoting", "running"]);
    expect(s).toMatchObject({ current: "2.0.0", knownGood: "2.0.0", target: "2.0.0" });
    expect(workOf(s)).toBe("none");
  });

  test("a signed migration adds the migrating state", () => {
    const s = stagedWithMigration();
    expect(s.state).toBe("migrating");
    expect(workOf(s)).toBe("migrate");
    expect(step(s, { type: "migrated", at }).state).toBe("starting");
  });

  test("a refusal fails the update and leaves the running version; asking again starts over", () => {
    const s = run(idle, { type: "desired", version: "2.0.0", at }, { type: "refused", reason: "bad signature", at });
    expect(s).toMatchObject({ state: "failed", current: "1.0.0", knownGood: "1.0.0", failed: "2.0.0", reason: "bad signature" });
    expect(step(s, { type: "desired", version: "2.0.0", at }).state).toBe("checking");
    expect(step(s, { type: "desired", version: "2.0.1", at })).toMatchObject({ state: "checking", target: "2.0.1", reason: undefined });
  });

  test("an unhealthy start rolls back to the known-good version", () => {
    const s = run(
      idle,
      ...toStaging,
      { type: "staged", at },
      { type: "started", at },
      { type: "unhealthy", reason: "no heartbeat", at },
      { type: "rollback_started", at },
      { type: "rolled_back", at },
    );
    expect(s).toMatchObject({ state: "rolled_back", current: "1.0.0", knownGood: "1.0.0", failed: "2.0.0", reason: "no heartbeat" });
  });

  test("events that do not apply change nothing", () => {
    expect(step(idle, { type: "healthy", at })).toBe(idle);
    const checking = step(idle, { type: "desired", version: "2.0.0", at });
    expect(step(checking, { type: "desired", version: "3.0.0", at })).toBe(checking);
    expect(step(idle, { type: "desired", version: "1.0.0", at })).toBe(idle);
  });

  test("recovery after a kill: before the switch nothing changed; a half migration is undone; after the switch the watchdog decides", () => {
    const onKnown = { version: "1.0.0", knownGood: "1.0.0", trial: false };
    for (const n of [1, 2, 3, 4]) {
      const s = run(idle, ...toStaging.slice(0, n));
      expect(recover(s, onKnown, at)).toMatchObject({ state: "idle", current: "1.0.0", target: undefined });
    }
    const migrating = stagedWithMigration();
    expect(recover(migrating, onKnown, at).state).toBe("rollback_required");
    const starting = run(idle, ...toStaging, { type: "staged", at });
    expect(recover(starting, onKnown, at)).toMatchObject({ state: "idle", current: "1.0.0", target: undefined });
    expect(recover({ ...starting, switched: true }, onKnown, at)).toMatchObject({ state: "rolled_back", failed: "2.0.0" });
    const started = run(idle, ...toStaging, { type: "staged", at }, { type: "started", at });
    expect(recover(started, { version: "2.0.0", knownGood: "1.0.0", trial: true }, at).state).toBe("health_checking");
    expect(recover(started, onKnown, at)).toMatchObject({ state: "rolled_back", current: "1.0.0", failed: "2.0.0" });
    const promoting = step(step(started, { type: "healthy", at }), { type: "healthy", at });
    expect(recover(promoting, { version: "2.0.0", knownGood: "2.0.0", trial: false }, at)).toMatchObject({ state: "running", knownGood: "2.0.0" });
    const rollingBack = run(started, { type: "unhealthy", reason: "x", at }, { type: "rollback_started", at });
    expect(recover(rollingBack, onKnown, at)).toMatchObject({ state: "rolled_back", failed: "2.0.0" });
  });

  test("a control-plane request for the version that runs is answered in any settled state, and waits during an update", () => {
    const failed = run(idle, ...toStaging.slice(0, 1), { type: "refused", reason: "bad signature", at });
    expect(failed.state).toBe("failed");
    expect(step(failed, { type: "already_running", requestId: "r-9", at })).toMatchObject({
      state: "running",
      target: "1.0.0",
      requestId: "r-9",
      reason: undefined,
    });
    const busy = run(idle, ...toStaging);
    expect(step(busy, { type: "already_running", requestId: "r-9", at })).toBe(busy);
  });

  test("killed in starting after signed migrations ran, before the switch: rolled back (the store goes back to its backup), not idle", () => {
    const s = step(stagedWithMigration(), { type: "migrated", at });
    expect(s.state).toBe("starting");
    const r = recover(s, { version: "1.0.0", knownGood: "1.0.0", trial: false }, at);
    expect(r).toMatchObject({ state: "rollback_required", target: "2.0.0", migration: true });
    const plain = run(idle, ...toStaging, { type: "staged", at });
    expect(recover(plain, { version: "1.0.0", knownGood: "1.0.0", trial: false }, at).state).toBe("idle");
  });
});
