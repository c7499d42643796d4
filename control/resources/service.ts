/**
 * Resources and their credentials. Credentials live only in the encrypted
 * resource secret; in production a resource must have one and its metadata
 * must not carry anything credential-like. Plaintext is never returned.
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import type { Tx } from "../../sql/db.ts";
import { appendAudit } from "../../sql/audit.ts";
import { deleteResource, getResource, insertResource, setResourceSecret, updateResource, type ResourceFields, type ResourceRow } from "../../sql/resources.ts";
import { resourceSecretAad } from "../secrets.ts";
import { uniqueAs } from "../organizations/service.ts";
import { terminateSessionsInTx } from "../sessions/service.ts";
import { getVpnConnection } from "../../sql/vpn.ts";
import { vpnRouteRefusal } from "../../core/vpn/session-route.ts";

/** A detached remote session is kept this long unless the resource says otherwise. */
export const DEFAULT_DETACHED_TIMEOUT_SECONDS = 900;

type Deps = Pick<ControlDeps, "db" | "identity" | "clock" | "fabric">;
type HostDeps = Deps & Pick<ControlDeps, "host">;

export interface SecretInput {
  username?: string;
  password?: string;
  domain?: string;
  private_key?: string;
}

const CREDENTIAL_KEY = /pass(word|wd)?|pwd|secret|token|private[_-]?key|credential|api[_-]?key|otp/i;

/** Paths of metadata keys that look like credentials, at any depth. */
export function credentialLikeKeys(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => credentialLikeKeys(v, `${path}[${i}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(CREDENTIAL_KEY.test(k) ? [path ? `${path}.${k}` : k] : []),
    ...credentialLikeKeys(v, path ? `${path}.${k}` : k),
  ]);
}

function guardMetadata(deps: Deps, metadata: Record<string, unknown>): void {
  if (!deps.identity.production) return;
  const keys = credentialLikeKeys(metadata);
  if (keys.length) throw new DomainError("resource.plaintext_credentials", "metadata carries credential-like fields", { fields: keys });
}

/**
 * A resource that names a VPN connection must be allowed to use it
 * (core/vpn/session-route.ts): refused with `resource.vpn_connection_not_found`
 * or `resource.vpn_not_allowed`, and nothing is written.
 */
async function checkVpnRoute(tx: Tx, id: string, organizationId: string, f: ResourceFields): Promise<void> {
  if (!f.vpnConnectionId) return;
  const refusal = vpnRouteRefusal({ id, organizationId, protocol: f.protocol, targetHost: f.targetHost }, await getVpnConnection(tx, f.vpnConnectionId));
  if (refusal?.kind === "not_found") {
    throw new DomainError("resource.vpn_connection_not_found", "the organization has no such VPN connection", { vpn_connection_id: f.vpnConnectionId });
  }
  if (refusal) throw new DomainError("resource.vpn_not_allowed", refusal.reason, { vpn_connection_id: f.vpnConnectionId });
}

export async function createResource(
  deps: Deps,
  orgId: string,
  fields: ResourceFields,
  secret: SecretInput | undefined,
  change: ChangeContext,
): Promise<string> {
  guardMetadata(deps, fields.metadata);
  if (deps.identity.production && !secret) throw new DomainError("resource.secret_required", "production resources need credentials in `secret`");
  const id = newId(deps.clock().getTime());
  const sealed = secret ? await deps.identity.keyring.seal(new TextEncoder().encode(JSON.stringify(secret)), resourceSecretAad(id)) : undefined;
  await deps.db.transaction(async (tx) => {
    await checkVpnRoute(tx, id, orgId, fields);
    await insertResource(tx, id, orgId, fields).catch(uniqueAs("resources_org_name_key", "resource.name_taken", "name taken"));
    if (sealed) await setResourceSecret(tx, id, newId(), sealed);
    await appendAudit(tx, {
      change,
      organizationId: orgId,
      action: "resource.create",
      targetType: "resource",
      targetId: id,
      outcome: "success",
      details: { protocol: fields.protocol, with_secret: Boolean(sealed), ...(fields.vpnConnectionId ? { vpn_connection_id: fields.vpnConnectionId } : {}) },
    });
  });
  // Service nodes of the organization carry resource references in their snapshots.
  await deps.fabric.snapshots.changed(null);
  return id;
}

export async function changeResource(deps: Deps, current: ResourceRow, patch: Partial<ResourceFields>, change: ChangeContext): Promise<void> {
  const next: ResourceFields = { ...pickFields(current), ...definedOnly(patch) };
  guardMetadata(deps, next.metadata);
  await deps.db.transaction(async (tx) => {
    await checkVpnRoute(tx, current.id, current.organizationId, next);
    await updateResource(tx, current.id, next).catch(uniqueAs("resources_org_name_key", "resource.name_taken", "name taken"));
    await appendAudit(tx, {
      change,
      organizationId: current.organizationId,
      action: "resource.update",
      targetType: "resource",
      targetId: current.id,
      outcome: "success",
      details: { fields: Object.keys(definedOnly(patch)) },
    });
  });
  await deps.fabric.snapshots.changed(null);
}

/** Deletes a resource; its live remote sessions are terminated in the same commit (reason `resource_deleted`). */
export async function removeResource(deps: HostDeps, r: ResourceRow, change: ChangeContext): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    await deleteResource(tx, r.id);
    await terminateSessionsInTx(tx, step, { resourceId: r.id }, "resource_deleted", deps.clock().toISOString(), change);
    await appendAudit(tx, { change, organizationId: r.organizationId, action: "resource.delete", targetType: "resource", targetId: r.id, outcome: "success" });
  });
  await deps.fabric.snapshots.changed(null);
}

/** Creates or rotates the resource's secret; returns the secret reference only. */
export async function putResourceSecret(
  deps: Deps,
  r: ResourceRow,
  secret: SecretInput,
  change: ChangeContext,
): Promise<{ secret_ref: string; rotated: boolean }> {
  const sealed = await deps.identity.keyring.seal(new TextEncoder().encode(JSON.stringify(secret)), resourceSecretAad(r.id));
  const ref = r.secretRef ?? newId();
  await deps.db.transaction(async (tx: Tx) => {
    const locked = await getResource(tx, r.id, true);
    if (!locked) throw new DomainError("resource.not_found", "no such resource");
    await setResourceSecret(tx, r.id, ref, sealed);
    await appendAudit(tx, {
      change,
      organizationId: r.organizationId,
      action: r.secretRef ? "resource.secret_rotate" : "resource.secret_create",
      targetType: "resource",
      targetId: r.id,
      outcome: "success",
      details: { fields: Object.keys(secret).sort() },
    });
  });
  return { secret_ref: ref, rotated: Boolean(r.secretRef) };
}

function pickFields(r: ResourceRow): ResourceFields {
  return {
    name: r.name,
    protocol: r.protocol,
    targetHost: r.targetHost,
    targetPort: r.targetPort,
    egressPool: r.egressPool,
    certificateVerificationMode: r.certificateVerificationMode,
    hostKeyFingerprint: r.hostKeyFingerprint,
    clipboardMode: r.clipboardMode,
    fileTransferMode: r.fileTransferMode,
    qualityProfile: r.qualityProfile,
    colorMode: r.colorMode,
    qualityAdjustable: r.qualityAdjustable,
    detachedTimeoutSeconds: r.detachedTimeoutSeconds,
    vpnConnectionId: r.vpnConnectionId,
    metadata: r.metadata,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
