/**
 * The control plane's fabric services, created once per replica and shared by
 * the enrollment, node and node-agent routes: unsealed cluster authorities,
 * the batched heartbeat writer, and the blocklist that refuses revoked or
 * disabled nodes on the hot path.
 */
import type { AuthorityKeys } from "../actors/cluster/authority.ts";
import type { HeartbeatWriter } from "./nodes/heartbeats.ts";
import type { NodeBlocklist } from "./node-agents/auth.ts";

export interface Fabric {
  authorities: AuthorityKeys;
  heartbeats: HeartbeatWriter;
  nodeBlocklist: NodeBlocklist;
  /** Set when this replica itself is in a minority partition (RAP_REPLICA_PARTITION). */
  replicaMinority: boolean;
}
