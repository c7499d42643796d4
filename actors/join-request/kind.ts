/** Registers the join-request actor; its projection is `node_join_requests`. */
import type { ActorKind, Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { Tx } from "../../sql/db.ts";
import { upsertJoinRequest } from "../../sql/enrollment.ts";
import { joinRequestMachine, type JoinRequestContext } from "./machine.ts";

export const JOIN_REQUEST = "join_request";

async function project(tx: Tx, done: Transitioned): Promise<void> {
  const c = done.snapshot.context as JoinRequestContext;
  await upsertJoinRequest(
    tx,
    {
      id: done.id,
      clusterId: c.clusterId,
      tokenId: c.tokenId,
      nodeName: c.nodeName,
      nodeFingerprint: c.fingerprint,
      publicKey: c.publicKey,
      reportedFacts: c.facts,
      reportedCapabilities: c.capabilities,
      requestedRoles: c.requestedRoles,
      status: stateName(done.snapshot),
      reviewedByUserId: c.reviewedBy,
      reviewedAt: c.reviewedAt,
      approvedNodeId: c.approvedNodeId,
      rejectionReason: c.rejectionReason,
      sourceIp: c.sourceIp,
    },
    done.now,
  );
}

export const joinRequestKind: ActorKind = { kind: JOIN_REQUEST, machine: joinRequestMachine, machineVersion: 1, project };
