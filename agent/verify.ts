/**
 * What the agent accepts from the control plane: a bootstrap bundle signed by
 * the cluster authority whose key matches the fingerprint pinned at enroll
 * time (when one was given), addressed to this node's key; and snapshots
 * signed by that pinned authority, for this cluster and this node, never
 * older than the one it runs.
 */
import { decodeProtectedHeader } from "jose";
import { fromB64, fromB64url } from "../core/crypto/bytes.ts";
import { keyFingerprint } from "../core/crypto/product-root.ts";
import { verifyAuthority, type AuthorityClaims } from "../core/crypto/authority-jws.ts";
import { verifyNodeCertificate } from "../core/crypto/x509.ts";
import { AgentError } from "./client.ts";
import * as v from "valibot";
import { BOOTSTRAP_TYPE, REVOCATION_TYPE, SignedSnapshot, SNAPSHOT_TYPE } from "../core/contracts/snapshot.ts";

export { BOOTSTRAP_TYPE, REVOCATION_TYPE, SNAPSHOT_TYPE };

export interface Bundle extends AuthorityClaims {
  node_id: string;
  join_request_id: string;
  authority: { public_key: string; fingerprint: string };
  ca_chain: string[];
  certificate: string;
  initial_snapshot: string;
}

export type SnapshotDoc = AuthorityClaims & SignedSnapshot;

const importAuthority = (rawB64: string) => crypto.subtle.importKey("raw", fromB64(rawB64), { name: "Ed25519" }, true, ["verify"]);

export async function verifyBundle(
  jws: string,
  expect: { clusterId: string; fingerprint: string; pinnedFingerprint: string | null; at: Date },
): Promise<Bundle> {
  let claimed: Bundle;
  try {
    if (decodeProtectedHeader(jws).typ !== BOOTSTRAP_TYPE) throw new Error("wrong type");
    claimed = JSON.parse(new TextDecoder().decode(fromB64url(jws.split(".")[1] ?? ""))) as Bundle;
  } catch {
    throw new AgentError("bundle_invalid", "the bootstrap bundle is not a signed bundle");
  }
  const actual = await keyFingerprint(claimed.authority?.public_key ?? "");
  if (actual !== claimed.authority.fingerprint) throw new AgentError("bundle_invalid", "the bundle's authority key does not match its fingerprint");
  if (expect.pinnedFingerprint && actual !== expect.pinnedFingerprint) {
    throw new AgentError("authority_mismatch", `the cluster authority is ${actual}, not the ${expect.pinnedFingerprint} given with --authority-fingerprint`);
  }
  const bundle = await verifyAuthority<Bundle>(await importAuthority(claimed.authority.public_key), jws, {
    typ: BOOTSTRAP_TYPE,
    aud: expect.fingerprint,
    clusterId: expect.clusterId,
  }).catch((err) => {
    throw new AgentError("bundle_invalid", `bootstrap bundle rejected: ${err instanceof Error ? err.message : String(err)}`);
  });
  const caPem = bundle.ca_chain[0];
  if (!caPem || !(await verifyNodeCertificate(bundle.certificate, caPem, { clusterId: expect.clusterId, nodeId: bundle.node_id, at: expect.at }))) {
    throw new AgentError("bundle_invalid", "the node certificate does not verify against the bundle's CA for this cluster and node");
  }
  return bundle;
}

export async function verifySnapshot(
  jws: string,
  expect: { authorityPublicKey: string; clusterId: string; nodeId: string; currentVersion: number | null },
): Promise<SnapshotDoc> {
  const doc = await verifyAuthority<SnapshotDoc>(await importAuthority(expect.authorityPublicKey), jws, {
    typ: SNAPSHOT_TYPE,
    aud: `node:${expect.nodeId}`,
    clusterId: expect.clusterId,
  }).catch((err) => {
    throw new AgentError("snapshot_rejected", `snapshot rejected: ${err instanceof Error ? err.message : String(err)}`);
  });
  const shape = v.safeParse(SignedSnapshot, doc);
  if (!shape.success) throw new AgentError("snapshot_rejected", `snapshot does not match the contract: ${v.summarize(shape.issues)}`);
  if (doc.node_id !== expect.nodeId) throw new AgentError("snapshot_rejected", "snapshot is for another node");
  if (expect.currentVersion !== null && doc.version < expect.currentVersion)
    throw new AgentError("snapshot_rejected", `snapshot version ${doc.version} is older than ${expect.currentVersion}`);
  return doc;
}

/** A cluster's signed revocation list, verified against the pinned authority. */
export async function verifyRevocationList(jws: string, expect: { authorityPublicKey: string; clusterId: string }): Promise<{ serials: string[] }> {
  const doc = await verifyAuthority<AuthorityClaims & { revoked: { serial: string }[] }>(await importAuthority(expect.authorityPublicKey), jws, {
    typ: REVOCATION_TYPE,
    aud: `cluster:${expect.clusterId}`,
    clusterId: expect.clusterId,
  }).catch((err) => {
    throw new AgentError("revocation_list_rejected", `revocation list rejected: ${err instanceof Error ? err.message : String(err)}`);
  });
  if (!Array.isArray(doc.revoked)) throw new AgentError("revocation_list_rejected", "revocation list has no serials");
  return { serials: doc.revoked.map((r) => String(r.serial)) };
}
