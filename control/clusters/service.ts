/**
 * Clusters as the API sees them: lifecycle commands go to the cluster actor
 * (actors/cluster/commands.ts), reads come from its `clusters` projection,
 * and the authority and partition views a platform admin inspects.
 */
import type * as v from "valibot";
import * as commands from "../../actors/cluster/commands.ts";
import type { ChangeContext } from "../../core/change.ts";
import type { ListClustersQuery, NewClusterBody, UpdateClusterBody } from "../../core/contracts/clusters.ts";
import { NotFound } from "../../core/errors.ts";
import { getCluster, listClusters as listClusterRows, type ClusterRow } from "../../sql/clusters.ts";
import { latestRevocationList } from "../../sql/nodes.ts";
import type { ControlDeps } from "../deps.ts";

export type { ClusterRow };
type Deps = Pick<ControlDeps, "db" | "host">;

export async function clusterOr404(deps: Pick<ControlDeps, "db">, id: string): Promise<ClusterRow> {
  const row = await getCluster(deps.db, id);
  if (!row) throw new NotFound("cluster.not_found", `cluster ${id} does not exist`, { id });
  return row;
}

export function listClusters(deps: Pick<ControlDeps, "db">, q: v.InferOutput<typeof ListClustersQuery>): Promise<ClusterRow[]> {
  return listClusterRows(deps.db, { limit: q.limit + 1, after: q.after, status: q.status });
}

export async function createCluster(
  deps: Deps & Pick<ControlDeps, "identity">,
  input: v.InferOutput<typeof NewClusterBody>,
  change: ChangeContext,
): Promise<ClusterRow> {
  const { id } = await commands.createCluster(deps.host, deps.identity.keyring, input, change);
  return clusterOr404(deps, id);
}

/** Sends one lifecycle command to the cluster actor and answers the cluster as it is after it. */
async function thenView(deps: Deps, id: string, send: Promise<unknown>): Promise<ClusterRow> {
  await send;
  return clusterOr404(deps, id);
}

export const updateCluster = (deps: Deps, id: string, patch: v.InferOutput<typeof UpdateClusterBody>, change: ChangeContext) =>
  thenView(deps, id, commands.updateCluster(deps.host, id, patch, change));
export const suspendCluster = (deps: Deps, id: string, reason: string, change: ChangeContext) =>
  thenView(deps, id, commands.suspendCluster(deps.host, id, reason, change));
export const resumeCluster = (deps: Deps, id: string, change: ChangeContext) => thenView(deps, id, commands.resumeCluster(deps.host, id, change));
export const archiveCluster = (deps: Deps, id: string, graceSeconds: number | undefined, change: ChangeContext) =>
  thenView(deps, id, commands.archiveCluster(deps.host, id, graceSeconds === undefined ? commands.DEFAULT_ARCHIVE_GRACE_MS : graceSeconds * 1000, change));
export const restoreCluster = (deps: Deps, id: string, change: ChangeContext) => thenView(deps, id, commands.restoreCluster(deps.host, id, change));

export interface PartitionView {
  cluster_id: string;
  partition_state: string;
  authority_term: number;
}
const partitionView = (c: ClusterRow): PartitionView => ({ cluster_id: c.id, partition_state: c.partitionState, authority_term: c.authorityTerm });

export const markMinority = async (deps: Deps, id: string, reason: string, change: ChangeContext) =>
  partitionView(await thenView(deps, id, commands.markMinority(deps.host, id, reason, change)));
export const promoteCluster = async (deps: Deps, id: string, change: ChangeContext) =>
  partitionView(await thenView(deps, id, commands.promoteCluster(deps.host, id, change)));
export const mergeCluster = async (deps: Deps, id: string, change: ChangeContext) =>
  partitionView(await thenView(deps, id, commands.mergeCluster(deps.host, id, change)));

/** The cluster's public trust material: what an operator pins and nodes verify against. */
export async function authorityView(deps: Pick<ControlDeps, "db" | "fabric">, id: string) {
  const cluster = await clusterOr404(deps, id);
  const a = await deps.fabric.authorities.load(deps.db, cluster.id);
  return {
    cluster_id: cluster.id,
    term: cluster.authorityTerm,
    partition_state: cluster.partitionState,
    signing_public_key: a.signingPublicKey,
    signing_fingerprint: a.signingFingerprint,
    ca_certificate: a.caCertificatePem,
    ca_fingerprint: a.caFingerprint,
  };
}

export async function clusterRevocations(deps: Pick<ControlDeps, "db">, id: string): Promise<{ version: number; revocation_list: string | null }> {
  const list = await latestRevocationList(deps.db, (await clusterOr404(deps, id)).id);
  return { version: list?.version ?? 0, revocation_list: list?.jws ?? null };
}
