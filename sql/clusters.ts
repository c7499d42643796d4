/**
 * The `clusters` projection: written only by the cluster actor's projection,
 * read by the HTTP layer.
 */
import { one, type Tx } from "./db.ts";

export interface ClusterRow {
  id: string;
  name: string;
  slug: string;
  status: string;
  region: string | null;
  metadata: Record<string, unknown>;
  archiveDueAt: string | null;
  partitionState: "normal" | "minority";
  authorityTerm: number;
  createdAt: string;
  updatedAt: string;
}

export async function upsertCluster(
  tx: Tx,
  c: {
    id: string;
    name: string;
    slug: string;
    status: string;
    region: string | null;
    metadata: Record<string, unknown>;
    archiveDueAt: string | null;
    partitionState: "normal" | "minority";
    authorityTerm: number;
    now: Date;
  },
): Promise<void> {
  await tx.query(
    `insert into clusters (id, name, slug, status, region, metadata, archive_due_at, partition_state, authority_term, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6::jsonb, $7::timestamptz, $8, $9, $10::timestamptz, $10::timestamptz)
     on conflict (id) do update set name = excluded.name, slug = excluded.slug, status = excluded.status, region = excluded.region,
       metadata = excluded.metadata, archive_due_at = excluded.archive_due_at, partition_state = excluded.partition_state,
       authority_term = excluded.authority_term, updated_at = excluded.updated_at`,
    [c.id, c.name, c.slug, c.status, c.region, JSON.stringify(c.metadata), c.archiveDueAt, c.partitionState, c.authorityTerm, c.now.toISOString()],
  );
}

const COLUMNS = "id::text, name, slug, status, region, metadata, archive_due_at, partition_state, authority_term, created_at, updated_at";

type Raw = {
  id: string;
  name: string;
  slug: string;
  status: string;
  region: string | null;
  metadata: Record<string, unknown>;
  archive_due_at: Date | null;
  partition_state: "normal" | "minority";
  authority_term: number;
  created_at: Date;
  updated_at: Date;
};
const toRow = (r: Raw): ClusterRow => ({
  id: r.id,
  name: r.name,
  slug: r.slug,
  status: r.status,
  region: r.region,
  metadata: r.metadata,
  archiveDueAt: r.archive_due_at ? new Date(r.archive_due_at).toISOString() : null,
  partitionState: r.partition_state,
  authorityTerm: r.authority_term,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export async function getCluster(tx: Tx, id: string): Promise<ClusterRow | undefined> {
  const r = await one<Raw>(tx, `select ${COLUMNS} from clusters where id = $1::uuid`, [id]);
  return r && toRow(r);
}

/** Keyset pagination by id (UUIDv7, so creation order): pass the last id seen as `after`. */
export async function listClusters(tx: Tx, opts: { limit: number; after?: string; status?: string }): Promise<ClusterRow[]> {
  const rows = await tx.query<Raw>(
    `select ${COLUMNS} from clusters
      where ($1::uuid is null or id > $1::uuid) and ($2::text is null or status = $2)
      order by id limit $3`,
    [opts.after ?? null, opts.status ?? null, opts.limit],
  );
  return rows.map(toRow);
}
