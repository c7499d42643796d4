/** Organization resources with their access policies, and their encrypted secrets. */
import { one, type Tx, pgArray } from "./db.ts";
import type { Sealed } from "../core/crypto/envelope.ts";
import type { ColorMode, QualityProfile, TransferMode } from "../core/contracts/data-plane-token.ts";

export type { TransferMode };

export interface ResourceRow {
  id: string;
  organizationId: string;
  name: string;
  protocol: "rdp" | "vnc" | "ssh";
  targetHost: string;
  targetPort: number;
  egressPool: string | null;
  certificateVerificationMode: "strict" | "ignore";
  /** The SSH host key the adapter accepts under strict verification (`SHA256:` + base64, as OpenSSH prints it). */
  hostKeyFingerprint: string | null;
  clipboardMode: TransferMode;
  fileTransferMode: TransferMode;
  /** Remote desktops: the starting quality profile, a colour mode overriding it (null: the profile's), and whether users may change them. */
  qualityProfile: QualityProfile;
  colorMode: ColorMode | null;
  qualityAdjustable: boolean;
  /** How long a detached remote session is kept before it is terminated. */
  detachedTimeoutSeconds: number;
  /** The VPN connection whose current owner dials the target for this resource's sessions; null: the adapter dials directly. */
  vpnConnectionId: string | null;
  metadata: Record<string, unknown>;
  secretRef: string | null;
  createdAt: string;
  updatedAt: string;
}

type Raw = {
  id: string;
  organization_id: string;
  name: string;
  protocol: ResourceRow["protocol"];
  target_host: string;
  target_port: number;
  egress_pool: string | null;
  certificate_verification_mode: "strict" | "ignore";
  host_key_fingerprint: string | null;
  clipboard_mode: TransferMode;
  file_transfer_mode: TransferMode;
  quality_profile: QualityProfile;
  color_mode: ColorMode | null;
  quality_adjustable: boolean;
  detached_timeout_seconds: number;
  vpn_connection_id: string | null;
  metadata: Record<string, unknown>;
  secret_ref: string | null;
  created_at: Date;
  updated_at: Date;
};
const COLS = `id::text, organization_id::text, name, protocol, target_host, target_port, egress_pool, certificate_verification_mode, host_key_fingerprint,
  clipboard_mode, file_transfer_mode, quality_profile, color_mode, quality_adjustable, detached_timeout_seconds, vpn_connection_id::text, metadata, secret_ref::text, created_at, updated_at`;
const toRow = (r: Raw): ResourceRow => ({
  id: r.id,
  organizationId: r.organization_id,
  name: r.name,
  protocol: r.protocol,
  targetHost: r.target_host,
  targetPort: r.target_port,
  egressPool: r.egress_pool,
  certificateVerificationMode: r.certificate_verification_mode,
  hostKeyFingerprint: r.host_key_fingerprint,
  clipboardMode: r.clipboard_mode,
  fileTransferMode: r.file_transfer_mode,
  qualityProfile: r.quality_profile,
  colorMode: r.color_mode,
  qualityAdjustable: r.quality_adjustable,
  detachedTimeoutSeconds: r.detached_timeout_seconds,
  vpnConnectionId: r.vpn_connection_id,
  metadata: r.metadata,
  secretRef: r.secret_ref,
  createdAt: new Date(r.created_at).toISOString(),
  updatedAt: new Date(r.updated_at).toISOString(),
});

export type ResourceFields = Omit<ResourceRow, "id" | "organizationId" | "secretRef" | "createdAt" | "updatedAt">;

export async function insertResource(tx: Tx, id: string, organizationId: string, f: ResourceFields): Promise<void> {
  await tx.query(
    `insert into resources (id, organization_id, name, protocol, target_host, target_port, egress_pool, certificate_verification_mode, clipboard_mode, file_transfer_mode, metadata, detached_timeout_seconds, host_key_fingerprint,
       quality_profile, color_mode, quality_adjustable, vpn_connection_id)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15, $16, $17)`,
    [id, organizationId, ...fieldParams(f)],
  );
}

/** A resource's fields in the column order both writes use. */
const fieldParams = (f: ResourceFields) => [
  f.name,
  f.protocol,
  f.targetHost,
  f.targetPort,
  f.egressPool,
  f.certificateVerificationMode,
  f.clipboardMode,
  f.fileTransferMode,
  JSON.stringify(f.metadata),
  f.detachedTimeoutSeconds,
  f.hostKeyFingerprint,
  f.qualityProfile,
  f.colorMode,
  f.qualityAdjustable,
  f.vpnConnectionId,
];

export async function updateResource(tx: Tx, id: string, f: ResourceFields): Promise<void> {
  await tx.query(
    `update resources set name = $2, protocol = $3, target_host = $4, target_port = $5, egress_pool = $6, certificate_verification_mode = $7,
       clipboard_mode = $8, file_transfer_mode = $9, metadata = $10::jsonb, detached_timeout_seconds = $11, host_key_fingerprint = $12,
       quality_profile = $13, color_mode = $14, quality_adjustable = $15, vpn_connection_id = $16, updated_at = now() where id = $1`,
    [id, ...fieldParams(f)],
  );
}

export async function getResource(tx: Tx, id: string, lock = false): Promise<ResourceRow | undefined> {
  const r = await one<Raw>(tx, `select ${COLS} from resources where id = $1${lock ? " for update" : ""}`, [id]);
  return r && toRow(r);
}

export async function listResources(tx: Tx, opts: { orgIds: string[] | null; after?: string; limit: number }): Promise<ResourceRow[]> {
  const rows = await tx.query<Raw>(
    `select ${COLS} from resources where ($1::uuid[] is null or organization_id = any($1::uuid[])) and ($2::uuid is null or id > $2::uuid) order by id limit $3`,
    [opts.orgIds ? pgArray(opts.orgIds) : null, opts.after ?? null, opts.limit],
  );
  return rows.map(toRow);
}

export async function deleteResource(tx: Tx, id: string): Promise<void> {
  await tx.query("delete from resources where id = $1", [id]);
}

export async function setResourceSecret(tx: Tx, resourceId: string, secretId: string, sealed: Sealed): Promise<void> {
  await tx.query(
    `insert into resource_secrets (id, resource_id, key_id, wrapped_key, ciphertext) values ($1, $2, $3, $4, $5)
     on conflict (id) do update set key_id = excluded.key_id, wrapped_key = excluded.wrapped_key, ciphertext = excluded.ciphertext, rotated_at = now()`,
    [secretId, resourceId, sealed.keyId, sealed.wrappedKey, sealed.ciphertext],
  );
  await tx.query("update resources set secret_ref = $2, updated_at = now() where id = $1", [resourceId, secretId]);
}

export async function getResourceSecret(tx: Tx, secretId: string): Promise<(Sealed & { resourceId: string }) | undefined> {
  const r = await one<{ resource_id: string; key_id: string; wrapped_key: string; ciphertext: string }>(
    tx,
    "select resource_id::text, key_id, wrapped_key, ciphertext from resource_secrets where id = $1",
    [secretId],
  );
  return r && { resourceId: r.resource_id, keyId: r.key_id, wrappedKey: r.wrapped_key, ciphertext: r.ciphertext };
}

export async function secretsNotUnderKey(tx: Tx, keyId: string): Promise<{ id: string; resourceId: string; sealed: Sealed }[]> {
  const rows = await tx.query<{ id: string; resource_id: string; key_id: string; wrapped_key: string; ciphertext: string }>(
    "select id::text, resource_id::text, key_id, wrapped_key, ciphertext from resource_secrets where key_id <> $1 for update",
    [keyId],
  );
  return rows.map((r) => ({ id: r.id, resourceId: r.resource_id, sealed: { keyId: r.key_id, wrappedKey: r.wrapped_key, ciphertext: r.ciphertext } }));
}

export async function updateSecretSealed(tx: Tx, id: string, sealed: Sealed): Promise<void> {
  await tx.query("update resource_secrets set key_id = $2, wrapped_key = $3, ciphertext = $4, rotated_at = now() where id = $1", [
    id,
    sealed.keyId,
    sealed.wrappedKey,
    sealed.ciphertext,
  ]);
}

/** How many resources route through VPN connection `id` (a connection they name cannot be deleted). */
export async function countResourcesThroughVpn(tx: Tx, vpnConnectionId: string): Promise<number> {
  const [r] = await tx.query<{ n: string | number }>("select count(*) as n from resources where vpn_connection_id = $1", [vpnConnectionId]);
  return Number(r?.n ?? 0);
}
