/** Registers the node actor; its projection is `nodes` plus the `cluster_memberships` row. */
import type { ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { upsertNode } from "../../sql/nodes.ts";
import { nodeMachine, type NodeContext } from "./machine.ts";

export const NODE = "node";

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as NodeContext;
  await upsertNode(tx, { id: done.id, clusterId: c.clusterId, name: c.name, status: stateName(done.snapshot), health: c.health, groupId: c.groupId, capabilities: c.capabilities, facts: c.facts, now: done.now });
}

export const nodeKind: ActorKind = { kind: NODE, machine: nodeMachine, machineVersion: 1, project };
