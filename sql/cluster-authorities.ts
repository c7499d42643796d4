/** Cluster authority key records: public material in clear, private keys sealed. */
import { one, type Tx } from "./db.ts";
import type { Sealed } from "../core/crypto/envelope.ts";

export interface AuthorityRow {
  clusterId: string;
  signingPublicKey: string;
  signingFingerprint: string;
  signingSealed: Sealed;
  caCertificatePem: string;
  caFingerprint: string;
  caSealed: Sealed;
}

export async function insertAuthority(tx: Tx, a: AuthorityRow): Promise<void> {
  await tx.query(
    `insert into cluster_authorities (cluster_id, signing_public_key, signing_fingerprint, signing_key_id, signing_wrapped_key, signing_ciphertext,
       ca_certificate_pem, ca_fingerprint, ca_key_id, ca_wrapped_key, ca_ciphertext)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      a.clusterId,
      a.signingPublicKey,
      a.signingFingerprint,
      a.signingSealed.keyId,
      a.signingSealed.wrappedKey,
      a.signingSealed.ciphertext,
      a.caCertificatePem,
      a.caFingerprint,
      a.caSealed.keyId,
      a.caSealed.wrappedKey,
      a.caSealed.ciphertext,
    ],
  );
}

type Raw = {
  cluster_id: string;
  signing_public_key: string;
  signing_fingerprint: string;
  signing_key_id: string;
  signing_wrapped_key: string;
  signing_ciphertext: string;
  ca_certificate_pem: string;
  ca_fingerprint: string;
  ca_key_id: string;
  ca_wrapped_key: string;
  ca_ciphertext: string;
};

export async function getAuthority(tx: Tx, clusterId: string): Promise<AuthorityRow | undefined> {
  const r = await one<Raw>(
    tx,
    "select cluster_id::text, signing_public_key, signing_fingerprint, signing_key_id, signing_wrapped_key, signing_ciphertext, ca_certificate_pem, ca_fingerprint, ca_key_id, ca_wrapped_key, ca_ciphertext from cluster_authorities where cluster_id = $1",
    [clusterId],
  );
  return (
    r && {
      clusterId: r.cluster_id,
      signingPublicKey: r.signing_public_key,
      signingFingerprint: r.signing_fingerprint,
      signingSealed: { keyId: r.signing_key_id, wrappedKey: r.signing_wrapped_key, ciphertext: r.signing_ciphertext },
      caCertificatePem: r.ca_certificate_pem,
      caFingerprint: r.ca_fingerprint,
      caSealed: { keyId: r.ca_key_id, wrappedKey: r.ca_wrapped_key, ciphertext: r.ca_ciphertext },
    }
  );
}

/** Reserves the next certificate serial of the cluster CA (row-locked, so serials never repeat). */
export async function nextCertificateSerial(tx: Tx, clusterId: string): Promise<bigint> {
  const r = await one<{ serial: string }>(
    tx,
    "update cluster_authorities set next_serial = next_serial + 1 where cluster_id = $1 returning (next_serial - 1)::text as serial",
    [clusterId],
  );
  if (!r) throw new Error(`no authority for cluster ${clusterId}`);
  return BigInt(r.serial);
}

export async function authoritiesNotUnderKey(tx: Tx, keyId: string): Promise<AuthorityRow[]> {
  const rows = await tx.query<{ cluster_id: string }>(
    "select cluster_id::text from cluster_authorities where signing_key_id <> $1 or ca_key_id <> $1 for update",
    [keyId],
  );
  const out: AuthorityRow[] = [];
  for (const r of rows) out.push((await getAuthority(tx, r.cluster_id))!);
  return out;
}

export async function updateAuthoritySealed(tx: Tx, clusterId: string, signing: Sealed, ca: Sealed): Promise<void> {
  await tx.query(
    `update cluster_authorities set signing_key_id = $2, signing_wrapped_key = $3, signing_ciphertext = $4, ca_key_id = $5, ca_wrapped_key = $6, ca_ciphertext = $7 where cluster_id = $1`,
    [clusterId, signing.keyId, signing.wrappedKey, signing.ciphertext, ca.keyId, ca.wrappedKey, ca.ciphertext],
  );
}
