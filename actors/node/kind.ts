/**
 * Registers the node actor; its projection is `nodes` plus the
 * `cluster_memberships` row. A node that goes offline, is disabled or is
 * revoked fails the remote sessions it serves as their adapter, in the same
 * commit (`cascade`), so a lost adapter never leaves a session looking alive.
 */
import type { AnyMachineSnapshot } from "xstate";
import type { ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { upsertNode } from "../../sql/nodes.ts";
import { liveSessionsOnAdapter } from "../../sql/remote-sessions.ts";
import { REMOTE_SESSION } from "../remote-session/kind.ts";
import { nodeMachine, type NodeContext } from "./machine.ts";

export const NODE = "node";

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as NodeContext;
  await upsertNode(tx, {
    id: done.id,
    clusterId: c.clusterId,
    name: c.name,
    status: stateName(done.snapshot),
    health: c.health,
    groupId: c.groupId,
    capabilities: c.capabilities,
    facts: c.facts,
    now: done.now,
  });
}

/** Out of service: offline, disabled or revoked. */
const lost = (s: AnyMachineSnapshot) => (s.context as NodeContext).health === "offline" || ["disabled", "revoked"].includes(stateName(s));

async function cascade(tx: Tx, done: Transitioned, before: AnyMachineSnapshot) {
  if (!lost(done.snapshot) || lost(before)) return [];
  const at = done.now.toISOString();
  return (await liveSessionsOnAdapter(tx, done.id)).map((s) => ({
    kind: REMOTE_SESSION,
    id: s.id,
    event: { type: "session.fail", reason: "adapter_node_lost", at },
  }));
}

export const nodeKind: ActorKind = { kind: NODE, machine: nodeMachine, machineVersion: 1, project, cascade };
