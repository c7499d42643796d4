/**
 * Platform-admin work on nodes: approving and rejecting join requests (which
 * creates the node, its identity and certificate, and the signed bootstrap
 * bundle in one commit), lifecycle changes, revocation with a new signed
 * revocation list, certificate renewal, role assignments, node groups.
 * Everything that creates or changes trust is refused while the cluster is a
 * minority partition.
 */
import type { ControlDeps } from "../deps.ts";
import { requireAuthority } from "../fabric.ts";
import type { ChangeContext } from "../../core/change.ts";
import { Conflict, DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import { fromB64 } from "../../core/crypto/bytes.ts";
import { fingerprintOf, issueNodeCertificate, readCsr } from "../../core/crypto/x509.ts";
import { missingCapability, type NodeRole } from "../../core/fabric.ts";
import { onUniqueViolation, type Tx } from "../../sql/db.ts";
import { appendAudit } from "../../sql/audit.ts";
import { getCluster } from "../../sql/clusters.ts";
import { nextCertificateSerial } from "../../sql/cluster-authorities.ts";
import { getJoinRequest, insertBootstrapBundle } from "../../sql/enrollment.ts";
import {
  getNode,
  insertIdentity,
  insertRevocationList,
  markIdentitiesRotated,
  nodeHoldingKey,
  revokeIdentitiesOf,
  revokedIdentities,
} from "../../sql/nodes.ts";
import { activeAssignments, getGroup, insertAssignment, insertGroup, removeAssignment, setDesiredService } from "../../sql/node-roles.ts";
import { getOrg } from "../../sql/organizations.ts";
import { JOIN_REQUEST } from "../../actors/join-request/kind.ts";
import { NODE } from "../../actors/node/kind.ts";
import type { LoadedAuthority } from "../../actors/cluster/authority.ts";
import { nodeSnapshot } from "./snapshots.ts";
import { BOOTSTRAP_TYPE, REVOCATION_TYPE } from "../../core/contracts/snapshot.ts";
import { nodeIn, type NodeRow } from "./queries.ts";
import { joinRequestIn, type JoinRequestRow } from "../enrollment/queries.ts";
import { createPreparedCluster, prepareCluster } from "../../actors/cluster/commands.ts";
import { issueJoinToken, type IssuedJoinToken } from "../enrollment/service.ts";

type Deps = Pick<ControlDeps, "db" | "host" | "clock" | "identity" | "fabric">;

export const CERTIFICATE_VALIDITY_MS = 30 * 86_400_000;
export { BOOTSTRAP_TYPE, REVOCATION_TYPE };

async function issueCertificate(
  tx: Tx,
  authority: LoadedAuthority,
  clusterId: string,
  nodeId: string,
  spki: Uint8Array,
  now: Date,
  beforeRecording?: () => Promise<void>,
) {
  const cert = await issueNodeCertificate({
    caCertPem: authority.caCertificatePem,
    caPrivatePkcs8: authority.caPrivatePkcs8,
    nodePublicSpki: spki,
    clusterId,
    nodeId,
    serial: await nextCertificateSerial(tx, clusterId),
    now,
    validForMs: CERTIFICATE_VALIDITY_MS,
  });
  await beforeRecording?.();
  await insertIdentity(tx, {
    certificateSerial: cert.serial,
    nodeId,
    clusterId,
    publicKey: Buffer.from(spki).toString("base64"),
    fingerprint: await fingerprintOf(spki),
    certificatePem: cert.pem,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  });
  return cert;
}

export async function approveJoin(
  deps: Deps,
  clusterId: string,
  requestId: string,
  opts: { groupId?: string },
  change: ChangeContext,
): Promise<{ node_id: string; certificate_serial: string }> {
  const now = deps.clock();
  const nodeId = newId(now.getTime());
  return deps.host.batch(async (tx, step) => {
    const cluster = await requireAuthority(deps, tx, clusterId);
    const request = await getJoinRequest(tx, requestId);
    if (!request || request.clusterId !== clusterId) throw new DomainError("join_request.not_found", "no such join request", { id: requestId });
    const holder = await nodeHoldingKey(tx, request.nodeFingerprint);
    if (holder) throw new DomainError("enrollment.key_reused", "this key already identifies a node", { cluster_id: holder.clusterId });
    if (opts.groupId && (await getGroup(tx, opts.groupId))?.clusterId !== clusterId)
      throw new DomainError("node_group.not_found", "no such group in this cluster");

    await step(JOIN_REQUEST, requestId, { type: "join.approve", nodeId, reviewedBy: change.author.id, at: now.toISOString() }, change);
    await step(
      NODE,
      nodeId,
      {
        type: "node.enroll",
        clusterId,
        name: request.nodeName,
        capabilities: request.reportedCapabilities,
        facts: request.reportedFacts,
        joinRequestId: requestId,
        groupId: opts.groupId ?? null,
      },
      change,
    );

    const authority = await deps.fabric.authorities.load(tx, clusterId);
    const cert = await issueCertificate(tx, authority, clusterId, nodeId, fromB64(request.publicKey), now);
    const snapshot = await nodeSnapshot(deps, tx, nodeId, now);
    const bundle = await authority.sign(
      BOOTSTRAP_TYPE,
      request.nodeFingerprint,
      {
        node_id: nodeId,
        join_request_id: requestId,
        term: cluster.authorityTerm,
        authority: { public_key: authority.signingPublicKey, fingerprint: authority.signingFingerprint },
        ca_chain: [authority.caCertificatePem],
        certificate: cert.pem,
        initial_snapshot: snapshot.jws,
      },
      now,
    );
    await insertBootstrapBundle(tx, requestId, bundle);
    await appendAudit(tx, {
      change,
      action: "node.certificate_issued",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { cluster_id: clusterId, serial: cert.serial, not_after: cert.notAfter.toISOString() },
    });
    return { node_id: nodeId, certificate_serial: cert.serial };
  });
}

/** Rejects a pending join request; answers the request as it is afterwards. */
export async function rejectJoin(deps: Deps, clusterId: string, requestId: string, reason: string, change: ChangeContext): Promise<JoinRequestRow> {
  return deps.host.batch(async (tx, step) => {
    await joinRequestIn(tx, clusterId, requestId);
    await step(JOIN_REQUEST, requestId, { type: "join.reject", reason, reviewedBy: change.author.id, at: deps.clock().toISOString() }, change);
    return joinRequestIn(tx, clusterId, requestId);
  });
}

export type LifecycleEvent = "node.drain" | "node.activate" | "node.disable" | "node.enable";

/** Answers the node as it is after the change. */
export async function changeLifecycle(
  deps: Deps,
  clusterId: string,
  nodeId: string,
  type: LifecycleEvent,
  reason: string | undefined,
  change: ChangeContext,
): Promise<NodeRow> {
  const node = await deps.host.batch(async (tx, step) => {
    await nodeIn(tx, clusterId, nodeId);
    if (type === "node.enable") await requireAuthority(deps, tx, clusterId);
    await step(NODE, nodeId, type === "node.disable" ? { type, reason: reason ?? "disabled by an administrator" } : { type }, change);
    return nodeIn(tx, clusterId, nodeId);
  });
  await deps.fabric.nodeBlocklist.changed(nodeId, node.status);
  await deps.fabric.snapshots.changed(clusterId);
  return node;
}

/** Signs the cluster's current revoked identities as a new revocation list; its version. */
async function publishRevocationList(deps: Pick<Deps, "fabric">, tx: Tx, clusterId: string, now: Date): Promise<number> {
  const authority = await deps.fabric.authorities.load(tx, clusterId);
  const doc = { revoked: await revokedIdentities(tx, clusterId), issued_at: now.toISOString() };
  return insertRevocationList(tx, clusterId, await authority.sign(REVOCATION_TYPE, `cluster:${clusterId}`, doc, now));
}

/** Revokes the node and all its certificates, and publishes a new signed revocation list. */
export async function revokeNode(
  deps: Deps,
  clusterId: string,
  nodeId: string,
  reason: string,
  change: ChangeContext,
): Promise<{ revocation_list_version: number; revoked_serials: string[] }> {
  const now = deps.clock();
  const out = await deps.host.batch(async (tx, step) => {
    await requireAuthority(deps, tx, clusterId);
    await nodeIn(tx, clusterId, nodeId);
    await step(NODE, nodeId, { type: "node.revoke", reason }, change);
    const serials = await revokeIdentitiesOf(tx, nodeId);
    const version = await publishRevocationList(deps, tx, clusterId, now);
    await appendAudit(tx, {
      change,
      action: "node.certificate_revoked",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { cluster_id: clusterId, serials, revocation_list_version: version },
    });
    return { revocation_list_version: version, revoked_serials: serials };
  });
  await deps.fabric.nodeBlocklist.changed(nodeId, "revoked");
  await deps.fabric.snapshots.changed(clusterId);
  return out;
}

/** A node renews its certificate (new CSR, with its current key or a new one); older certificates become `rotated`. */
export async function renewCertificate(
  deps: Deps,
  nodeId: string,
  csrPem: string,
  change: ChangeContext,
): Promise<{ certificate: string; serial: string; not_after: string }> {
  const spki = await readCsr(csrPem);
  const fingerprint = await fingerprintOf(spki);
  const now = deps.clock();
  return deps.db.transaction(async (tx) => {
    const node = await getNode(tx, nodeId);
    if (!node || node.status === "revoked" || node.status === "disabled") throw new DomainError("node.not_active", "node cannot renew");
    await requireAuthority(deps, tx, node.clusterId);
    const holder = await nodeHoldingKey(tx, fingerprint);
    if (holder && holder.nodeId !== nodeId) throw new DomainError("enrollment.key_reused", "this key already identifies another node");
    const authority = await deps.fabric.authorities.load(tx, node.clusterId);
    // Taking the serial locks the cluster's counter, so renewals take turns and each sees the one before; the current
    // certificates stop being active before the new one is recorded, which may be for the same key (one active per key).
    const cert = await issueCertificate(tx, authority, node.clusterId, nodeId, spki, now, () => markIdentitiesRotated(tx, nodeId));
    await appendAudit(tx, {
      change,
      action: "node.certificate_rotated",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { cluster_id: node.clusterId, serial: cert.serial },
    });
    return { certificate: cert.pem, serial: cert.serial, not_after: cert.notAfter.toISOString() };
  });
}

export async function assignRole(
  deps: Deps,
  clusterId: string,
  nodeId: string,
  input: { role: NodeRole; organization_id?: string; policy: Record<string, unknown> },
  change: ChangeContext,
): Promise<string> {
  const id = await deps.db.transaction(async (tx) => {
    await requireAuthority(deps, tx, clusterId);
    const node = await nodeIn(tx, clusterId, nodeId);
    if (node.status === "revoked") throw new DomainError("node.not_active", "a revoked node takes no roles");
    const missing = missingCapability(input.role, node.capabilities);
    if (missing) throw new DomainError("node.capability_missing", `the node does not report ${missing}`, { role: input.role, capability: missing });
    if (input.organization_id && !(await getOrg(tx, input.organization_id))) throw new DomainError("organization.not_found", "no such organization");
    // A VPN client sends from its tunnel address inside one organization's connections: without both it could use none.
    if (input.role === "vpn-client" && (!input.organization_id || typeof input.policy.tunnel_address !== "string"))
      throw new DomainError("node.role_policy_invalid", "a vpn-client role needs organization_id and policy.tunnel_address", { role: input.role });
    const id = newId();
    await insertAssignment(tx, {
      id,
      clusterId,
      nodeId,
      role: input.role,
      organizationId: input.organization_id ?? null,
      assignedBy: change.author.id,
      policy: input.policy,
    }).catch(onUniqueViolation((cause) => new Conflict("node.role_exists", "the node already has this role", {}, { cause })));
    await appendAudit(tx, {
      change,
      organizationId: input.organization_id ?? null,
      action: "node.role_assigned",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { cluster_id: clusterId, role: input.role, assignment_id: id },
    });
    // Every role runs a workload on the node.
    await setDesiredService(tx, { id: newId(), clusterId, nodeId, serviceType: input.role, desiredState: "running" });
    await appendAudit(tx, {
      change,
      action: "node.service_desired_state",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { service_type: input.role, desired_state: "running" },
    });
    return id;
  });
  await deps.fabric.snapshots.changed(clusterId);
  // An update-cache assignment changes the sources heartbeats name.
  deps.fabric.versions.policy.invalidate();
  return id;
}

export async function unassignRole(deps: Deps, clusterId: string, nodeId: string, assignmentId: string, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await requireAuthority(deps, tx, clusterId);
    await nodeIn(tx, clusterId, nodeId);
    const removed = await removeAssignment(tx, nodeId, assignmentId);
    if (!removed) throw new DomainError("node.role_not_found", "no such active role assignment");
    await appendAudit(tx, {
      change,
      organizationId: removed.organizationId,
      action: "node.role_removed",
      targetType: "node",
      targetId: nodeId,
      outcome: "success",
      details: { cluster_id: clusterId, role: removed.role },
    });
    const stillHas = (await activeAssignments(tx, nodeId)).some((a) => a.role === removed.role);
    if (!stillHas) {
      await setDesiredService(tx, { id: newId(), clusterId, nodeId, serviceType: removed.role, desiredState: "stopped" });
      await appendAudit(tx, {
        change,
        action: "node.service_desired_state",
        targetType: "node",
        targetId: nodeId,
        outcome: "success",
        details: { service_type: removed.role, desired_state: "stopped" },
      });
    }
  });
  await deps.fabric.snapshots.changed(clusterId);
  deps.fabric.versions.policy.invalidate();
}

export async function createGroup(deps: Deps, clusterId: string, input: { name: string; parent_id?: string }, change: ChangeContext): Promise<string> {
  return deps.db.transaction(async (tx) => {
    if (!(await getCluster(tx, clusterId))) throw new DomainError("cluster.not_found", "no such cluster");
    if (input.parent_id && (await getGroup(tx, input.parent_id))?.clusterId !== clusterId)
      throw new DomainError("node_group.not_found", "no such parent group in this cluster");
    const id = newId();
    await insertGroup(tx, { id, clusterId, parentId: input.parent_id ?? null, name: input.name }).catch(
      onUniqueViolation((cause) => new Conflict("node_group.exists", "a group with that name already exists here", {}, { cause })),
    );
    await appendAudit(tx, {
      change,
      action: "node_group.create",
      targetType: "node_group",
      targetId: id,
      outcome: "success",
      details: { cluster_id: clusterId },
    });
    return id;
  });
}

/** A node event, so the `nodes` row stays the node actor's to write; answers the node afterwards. */
export async function moveToGroup(deps: Deps, clusterId: string, nodeId: string, groupId: string | null, change: ChangeContext): Promise<NodeRow> {
  return deps.host.batch(async (tx, step) => {
    await nodeIn(tx, clusterId, nodeId);
    if (groupId && (await getGroup(tx, groupId))?.clusterId !== clusterId) throw new DomainError("node_group.not_found", "no such group in this cluster");
    await step(NODE, nodeId, { type: "node.set_group", groupId }, change);
    await appendAudit(tx, { change, action: "node.group_changed", targetType: "node", targetId: nodeId, outcome: "success", details: { group_id: groupId } });
    return nodeIn(tx, clusterId, nodeId);
  });
}

/**
 * Splits nodes of a minority cluster off into a new cluster of their own: the
 * owner's way to make a lasting partition official. A node's identity names
 * its cluster, so the moved nodes cannot keep it: in one commit they are
 * revoked here (with a new signed revocation list) and each gets a single-use
 * join token for the new cluster, for the same roles. The new cluster has its
 * own authority. Allowed only while the source is a minority: it is the
 * sanctioned exception to "a minority changes no trust".
 */
export async function splitCluster(
  deps: Deps & Pick<ControlDeps, "log">,
  clusterId: string,
  input: { name: string; slug: string; node_ids: string[] },
  change: ChangeContext,
): Promise<{ cluster_id: string; nodes: { node_id: string; name: string; join_token: IssuedJoinToken }[]; revocation_list_version: number }> {
  const source = await getCluster(deps.db, clusterId);
  if (!source) throw new DomainError("cluster.not_found", "no such cluster", { id: clusterId });
  if (source.partitionState !== "minority") throw new DomainError("cluster.not_partitioned", "only a minority partition can be split off");
  const target = await prepareCluster(deps.host, deps.identity.keyring, {
    name: input.name,
    slug: input.slug,
    region: source.region,
    metadata: { split_from: clusterId },
  });
  const newClusterId = target.id;
  const now = deps.clock();
  // One commit: the new cluster, the revocations, the tokens and the list, or none of them.
  const result = await deps.host.batch(async (tx, step) => {
    if ((await getCluster(tx, clusterId))?.partitionState !== "minority")
      throw new DomainError("cluster.not_partitioned", "only a minority partition can be split off");
    await createPreparedCluster(tx, step, target, change);
    const moved = [];
    for (const nodeId of input.node_ids) {
      const node = await nodeIn(tx, clusterId, nodeId);
      if (node.status === "revoked") throw new DomainError("node.not_active", "a revoked node cannot move", { id: nodeId });
      const roles = (await activeAssignments(tx, nodeId)).map((a) => a.role as NodeRole);
      await step(NODE, nodeId, { type: "node.revoke", reason: `split into cluster ${input.slug}` }, change);
      await revokeIdentitiesOf(tx, nodeId);
      const token = await issueJoinToken(deps, tx, newClusterId, { ttl_seconds: 24 * 3600, max_uses: 1, requested_roles: [...new Set(roles)] }, change);
      moved.push({ node_id: nodeId, name: node.name, join_token: token });
    }
    const version = await publishRevocationList(deps, tx, clusterId, now);
    await appendAudit(tx, {
      change,
      action: "cluster.split",
      targetType: "cluster",
      targetId: clusterId,
      outcome: "success",
      details: { new_cluster_id: newClusterId, node_ids: input.node_ids, revocation_list_version: version },
    });
    return { cluster_id: newClusterId, nodes: moved, revocation_list_version: version };
  });
  for (const n of result.nodes) await deps.fabric.nodeBlocklist.changed(n.node_id, "revoked");
  await deps.fabric.snapshots.changed(clusterId);
  return result;
}
