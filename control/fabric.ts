/**
 * The control plane's fabric services, created once per replica and shared by
 * the enrollment, node and node-agent routes: unsealed cluster authorities,
 * the batched heartbeat writer, and the blocklist that refuses revoked or
 * disabled nodes on the hot path.
 */
import { HeartbeatWriter } from "./nodes/heartbeats.ts";
import { NodeBlocklist } from "./nodes/blocklist.ts";
import { SnapshotSignals } from "./nodes/snapshot-signals.ts";
import { AuthorityKeys } from "../actors/cluster/authority.ts";
import type { ActorHost } from "../actors/host/host.ts";
import type { Keyring } from "../core/crypto/envelope.ts";
import type { Logger } from "../core/log.ts";
import { VersionStorage } from "./versions/storage.ts";
import type { Db } from "../sql/db.ts";
import type { LiveState } from "../live/live-state.ts";
import { DomainError } from "../core/errors.ts";
import type { Tx } from "../sql/db.ts";
import { getCluster, type ClusterRow } from "../sql/clusters.ts";

export interface Fabric {
  authorities: AuthorityKeys;
  heartbeats: HeartbeatWriter;
  nodeBlocklist: NodeBlocklist;
  /** Wakes agents long-polling for a new snapshot. */
  snapshots: SnapshotSignals;
  /** Set when this replica itself is in a minority partition (RAP_REPLICA_PARTITION). */
  replicaMinority: boolean;
  /** Version storage: release files on this replica's disk, and the update policy heartbeats answer from. */
  versions: VersionStorage;
}

export function createFabric(d: {
  db: Db;
  live: LiveState;
  host: ActorHost;
  log: Logger;
  keyring: Keyring;
  replicaMinority: boolean;
  heartbeatFlushMs?: number;
  /** Where version storage keeps release files (DATA_DIR/versions). */
  versionsDir: string;
}): Fabric {
  return {
    authorities: new AuthorityKeys(d.keyring),
    heartbeats: new HeartbeatWriter({ db: d.db, live: d.live, host: d.host, log: d.log, flushMs: d.heartbeatFlushMs }),
    nodeBlocklist: new NodeBlocklist(d.db, d.live),
    snapshots: new SnapshotSignals(d.live),
    replicaMinority: d.replicaMinority,
    versions: new VersionStorage(d.versionsDir),
  };
}

/** Trust-changing work needs an active cluster that holds authority, on a replica that holds it too. */
export async function requireAuthority(deps: { fabric: Fabric }, tx: Tx, clusterId: string): Promise<ClusterRow> {
  if (deps.fabric.replicaMinority)
    throw new DomainError("cluster.partition_minority", "this control-plane replica is in a minority partition; trust changes are refused", { replica: true });
  const cluster = await getCluster(tx, clusterId);
  if (!cluster) throw new DomainError("cluster.not_found", "no such cluster", { id: clusterId });
  if (cluster.partitionState === "minority")
    throw new DomainError("cluster.partition_minority", "this cluster is in a minority partition; trust changes are refused", { cluster_id: clusterId });
  if (cluster.status !== "active") throw new DomainError("cluster.not_active", `cluster is ${cluster.status}`, { status: cluster.status });
  return cluster;
}
