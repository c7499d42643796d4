/** Pure transition tests of the join-request machine. */
import { describe, expect, test } from "../../fixtures/test.ts";
import { initialTransition, transition, type AnyMachineSnapshot } from "xstate";
import { EXPIRE_TIMER, joinRequestMachine, type JoinRequestEvent } from "./machine.ts";
import { TIMER_CANCEL, TIMER_SCHEDULE } from "../host/kind.ts";

const submit: JoinRequestEvent = {
  type: "join.submit",
  clusterId: "c",
  tokenId: "t",
  nodeName: "n",
  fingerprint: "SHA256:x",
  publicKey: "pk",
  facts: {},
  capabilities: { can_route_mesh: true },
  requestedRoles: ["relay-node"],
  sourceIp: "127.0.0.1",
  expiresAt: "2026-01-02T00:00:00.000Z",
};
const approve: JoinRequestEvent = { type: "join.approve", nodeId: "node-1", reviewedBy: "u", at: "2026-01-01T01:00:00.000Z" };
const reject: JoinRequestEvent = { type: "join.reject", reason: "unknown host", reviewedBy: "u", at: "2026-01-01T01:00:00.000Z" };

function step(s: AnyMachineSnapshot, e: JoinRequestEvent) {
  expect(s.can(e)).toBe(true);
  return transition(joinRequestMachine, s, e) as [AnyMachineSnapshot, { type: string; params?: unknown }[]];
}

describe("join request machine", () => {
  test("submit makes a pending request and schedules its expiry", () => {
    const [s, actions] = step(initialTransition(joinRequestMachine)[0], submit);
    expect(s.value).toBe("pending");
    expect(s.context).toMatchObject({ nodeName: "n", requestedRoles: ["relay-node"], approvedNodeId: null });
    expect(actions).toContainEqual(
      expect.objectContaining({ type: TIMER_SCHEDULE, params: { name: EXPIRE_TIMER, dueAt: submit.expiresAt, event: { type: "join.expire" } } }),
    );
  });

  test("approve and reject record the reviewer and cancel the expiry; all three ends are final", () => {
    const [pending] = step(initialTransition(joinRequestMachine)[0], submit);
    const [approved, a1] = step(pending, approve);
    expect(approved.value).toBe("approved");
    expect(approved.context).toMatchObject({ approvedNodeId: "node-1", reviewedBy: "u" });
    expect(a1).toContainEqual(expect.objectContaining({ type: TIMER_CANCEL }));
    const [rejected] = step(pending, reject);
    expect(rejected.context.rejectionReason).toBe("unknown host");
    const [expired] = step(pending, { type: "join.expire" });
    for (const s of [approved, rejected, expired]) {
      expect(s.status).toBe("done");
      expect([approve, reject, { type: "join.expire" } as const].some((e) => s.can(e))).toBe(false);
    }
  });

  test("nothing but submit is accepted before submission", () => {
    const [s0] = initialTransition(joinRequestMachine);
    expect([approve, reject, { type: "join.expire" } as const].some((e) => s0.can(e))).toBe(false);
  });
});
