/** Pure transition tests of the cluster machine: every state, every event, no IO. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { ARCHIVE_TIMER, clusterMachine, type ClusterEvent } from "./machine.ts";
import { TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

const create: ClusterEvent = { type: "cluster.create", name: "Frankfurt", slug: "fra", region: "eu-central", metadata: { tier: "gold" } };
const archive: ClusterEvent = { type: "cluster.archive", graceMs: 60_000, requestedAt: "2026-01-01T00:00:00.000Z" };

function run(...events: ClusterEvent[]) {
  let [s] = initialTransition(clusterMachine);
  let actions: { type: string; params?: unknown }[] = [];
  for (const e of events) {
    expect(s.can(e)).toBe(true);
    [s, actions] = transition(clusterMachine, s, e) as [AnyMachineSnapshot, typeof actions];
  }
  return { s, actions };
}

const PARTITION: ClusterEvent[] = [{ type: "cluster.mark_minority", reason: "lost quorum" }, { type: "cluster.promote" }, { type: "cluster.merge" }];

const ALL: ClusterEvent[] = [
  create,
  { type: "cluster.update", name: "x" },
  { type: "cluster.suspend", reason: "maintenance" },
  { type: "cluster.resume" },
  archive,
  { type: "cluster.restore" },
  { type: "cluster.archive_due" },
  ...PARTITION,
];

function accepted(s: AnyMachineSnapshot): string[] {
  return ALL.filter((e) => s.can(e))
    .map((e) => e.type)
    .sort();
}

describe("cluster machine", () => {
  test("new accepts only create, which fills the context and becomes active", () => {
    const [s0] = initialTransition(clusterMachine);
    expect(s0.value).toBe("new");
    expect(accepted(s0)).toEqual(["cluster.create"]);
    const { s } = run(create);
    expect(s.value).toBe("active");
    expect(s.context).toMatchObject({ name: "Frankfurt", slug: "fra", region: "eu-central", metadata: { tier: "gold" } });
  });

  test("active accepts update, suspend and archive", () => {
    expect(accepted(run(create).s)).toEqual(["cluster.archive", "cluster.mark_minority", "cluster.suspend", "cluster.update"]);
  });

  test("update changes only the fields it names", () => {
    const { s } = run(create, { type: "cluster.update", region: null });
    expect(s.context).toMatchObject({ name: "Frankfurt", slug: "fra", region: null, metadata: { tier: "gold" } });
  });

  test("suspend records the reason; resume clears it", () => {
    const suspended = run(create, { type: "cluster.suspend", reason: "maintenance" }).s;
    expect(suspended.value).toBe("suspended");
    expect(suspended.context.suspendedReason).toBe("maintenance");
    expect(accepted(suspended)).toEqual(["cluster.archive", "cluster.mark_minority", "cluster.resume", "cluster.update"]);
    const resumed = run(create, { type: "cluster.suspend", reason: "m" }, { type: "cluster.resume" }).s;
    expect(resumed.value).toBe("active");
    expect(resumed.context.suspendedReason).toBeNull();
  });

  test("archive schedules a durable timer at requestedAt + grace", () => {
    const { s, actions } = run(create, archive);
    expect(s.value).toBe("archiving");
    expect(s.context.archiveDueAt).toBe("2026-01-01T00:01:00.000Z");
    expect(actions).toContainEqual(
      expect.objectContaining({
        type: TIMER_SCHEDULE,
        params: { name: ARCHIVE_TIMER, dueAt: "2026-01-01T00:01:00.000Z", event: { type: "cluster.archive_due" } },
      }),
    );
    expect(accepted(s)).toEqual(["cluster.archive_due", "cluster.mark_minority", "cluster.restore"]);
  });

  test("a suspended cluster can be archived too", () => {
    expect(run(create, { type: "cluster.suspend", reason: "m" }, archive).s.value).toBe("archiving");
  });

  test("restore returns to active and cancels the timer", () => {
    const { s, actions } = run(create, archive, { type: "cluster.restore" });
    expect(s.value).toBe("active");
    expect(s.context.archiveDueAt).toBeNull();
    expect(actions).toContainEqual(expect.objectContaining({ type: TIMER_CANCEL, params: { name: ARCHIVE_TIMER } }));
  });

  test("archive_due ends the actor: archived is final and accepts nothing", () => {
    const { s } = run(create, archive, { type: "cluster.archive_due" });
    expect(s.value).toBe("archived");
    expect(s.status).toBe("done");
    expect(accepted(s)).toEqual([]);
  });
});

describe("cluster partition authority", () => {
  test("a minority cluster can be promoted (new term) or merged (same term), nothing else", () => {
    const minority = run(create, { type: "cluster.mark_minority", reason: "lost quorum" }).s;
    expect(minority.context).toMatchObject({ partition: "minority", authorityTerm: 1 });
    expect(PARTITION.filter((e) => minority.can(e)).map((e) => e.type)).toEqual(["cluster.promote", "cluster.merge"]);
    expect(run(create, PARTITION[0]!, { type: "cluster.promote" }).s.context).toMatchObject({ partition: "normal", authorityTerm: 2 });
    expect(run(create, PARTITION[0]!, { type: "cluster.merge" }).s.context).toMatchObject({ partition: "normal", authorityTerm: 1 });
  });

  test("a cluster that does not exist cannot change partition", () => {
    const [s0] = initialTransition(clusterMachine);
    expect(PARTITION.some((e) => s0.can(e))).toBe(false);
  });
});
