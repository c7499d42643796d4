/** Reads of a cluster's join tokens and join requests, scoped to that cluster. */
import type * as v from "valibot";
import type { JoinRequestQuery } from "../../core/contracts/nodes.ts";
import { NotFound } from "../../core/errors.ts";
import {
  getJoinRequest,
  listJoinRequests as listRequestRows,
  listJoinTokens as listTokenRows,
  type JoinRequestRow,
  type JoinTokenRow,
} from "../../sql/enrollment.ts";
import { clusterOr404 } from "../clusters/service.ts";
import type { Tx } from "../../sql/db.ts";
import type { ControlDeps } from "../deps.ts";

export type { JoinRequestRow, JoinTokenRow };
type Deps = Pick<ControlDeps, "db">;

export async function listJoinTokens(deps: Deps, clusterId: string): Promise<JoinTokenRow[]> {
  return listTokenRows(deps.db, (await clusterOr404(deps, clusterId)).id);
}

/** One more row than `limit`, so the caller can tell whether there is a next page. */
export function listJoinRequests(deps: Deps, clusterId: string, q: v.InferOutput<typeof JoinRequestQuery>): Promise<JoinRequestRow[]> {
  return listRequestRows(deps.db, { clusterId, status: q.status, after: q.after, limit: q.limit + 1 });
}

/** The join request, if it belongs to the cluster; otherwise `join_request.not_found`. */
export async function joinRequestIn(tx: Tx, clusterId: string, requestId: string): Promise<JoinRequestRow> {
  const r = await getJoinRequest(tx, requestId);
  if (!r || r.clusterId !== clusterId) throw new NotFound("join_request.not_found", "no such join request", { id: requestId });
  return r;
}
