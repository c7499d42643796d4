/** Signed node snapshots, versioned per node. */
import { one, type Tx } from "./db.ts";

export async function latestSnapshot(tx: Tx, nodeId: string): Promise<{ version: number; contentHash: string; jws: string } | undefined> {
  const r = await one<{ version: number; content_hash: string; snapshot_jws: string }>(
    tx,
    "select version, content_hash, snapshot_jws from node_snapshots where node_id = $1 order by version desc limit 1",
    [nodeId],
  );
  return r && { version: r.version, contentHash: r.content_hash, jws: r.snapshot_jws };
}

/** Inserts the next version; false when another writer took that version first. */
export async function insertSnapshot(tx: Tx, nodeId: string, version: number, contentHash: string, jws: string): Promise<boolean> {
  const rows = await tx.query(
    "insert into node_snapshots (node_id, version, content_hash, snapshot_jws) values ($1, $2, $3, $4) on conflict do nothing returning version",
    [nodeId, version, contentHash, jws],
  );
  return rows.length === 1;
}
