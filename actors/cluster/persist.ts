/**
 * The cluster actor's projection: one `clusters` row, written in the
 * transition's transaction. A taken slug violates `clusters_slug_key`; that
 * aborts the whole transition (snapshot, journal and row) and surfaces as
 * `cluster.slug_taken`.
 */
import { Conflict } from "../../core/errors.ts";
import { isUniqueViolation, type Tx } from "../../sql/db.ts";
import { upsertCluster } from "../../sql/clusters.ts";
import type { Transitioned } from "../host/kind.ts";
import { stateName } from "../host/kind.ts";
import type { ClusterContext, ClusterStatus } from "./machine.ts";

export async function projectCluster(tx: Tx, done: Transitioned): Promise<void> {
  const ctx = done.snapshot.context as ClusterContext;
  try {
    await upsertCluster(tx, {
      id: done.id,
      name: ctx.name,
      slug: ctx.slug,
      status: stateName(done.snapshot) as ClusterStatus,
      region: ctx.region,
      metadata: ctx.metadata,
      archiveDueAt: ctx.archiveDueAt,
      partitionState: ctx.partition ?? "normal",
      authorityTerm: ctx.authorityTerm ?? 1,
      now: done.now,
    });
  } catch (err) {
    if (isUniqueViolation(err, "clusters_slug_key"))
      throw new Conflict("cluster.slug_taken", `cluster slug ${ctx.slug} is already in use`, { slug: ctx.slug }, { cause: err });
    throw err;
  }
}
