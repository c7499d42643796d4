/**
 * Identity sources as org owners and admins (or the platform owner, for the
 * platform's own source) manage them: create, change, delete, replace the
 * group → role mappings, require single sign-on. Secrets are sealed before
 * they reach a row; every change is audited in its own transaction; an LDAP
 * source's directory sync is scheduled through its durable-timer actor.
 * Authorization (with step-up) happens at the route.
 */
import * as v from "valibot";
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import { newId } from "../../core/ids.ts";
import type { OrgRole } from "../../core/authz.ts";
import { LdapConfig, OidcConfig, type NewSourceBody } from "../../core/contracts/identity-sources.ts";
import { appendAudit } from "../../sql/audit.ts";
import type { Tx } from "../../sql/db.ts";
import { deleteSource, getSource, insertSource, replaceMappings, setRequireSso, updateSource, type SourceRow } from "../../sql/identity-sources.ts";
import { lockOrg } from "../../sql/organizations.ts";
import { uniqueAs } from "../organizations/service.ts";
import { sealSourceSecret } from "./secret.ts";
import { DIRECTORY_SYNC } from "../../actors/directory-sync/machine.ts";

type Deps = Pick<ControlDeps, "db" | "clock" | "identity" | "host">;

/** Production refuses plain LDAP and plain-HTTP providers (loopback included). */
function checkTransport(deps: Deps, kind: string, config: Record<string, unknown>): void {
  if (!deps.identity.production) return;
  const insecure = kind === "ldap" ? config.security === "none" : kind === "oidc" && String(config.issuer).startsWith("http:");
  if (insecure) throw new DomainError("identity_source.insecure_transport", "plain transport refused in production", { kind });
}

/** Validates a kind's settings (a change sends the whole config again). */
export function parseConfig(kind: SourceRow["kind"], config: unknown): Record<string, unknown> {
  if (kind === "local") return {};
  const schema = kind === "oidc" ? OidcConfig : LdapConfig;
  const r = v.safeParse(schema, config);
  if (!r.success) {
    const issue = r.issues[0];
    throw new DomainError("request.validation_failed", "invalid identity source config", {
      field: `config${issue.path?.length ? `.${issue.path.map((p) => String(p.key)).join(".")}` : ""}`,
      reason: issue.message,
    });
  }
  return r.output as Record<string, unknown>;
}

export async function createSource(deps: Deps, organizationId: string | null, body: NewSourceBody, change: ChangeContext): Promise<string> {
  const id = newId(deps.clock().getTime());
  const config = body.kind === "local" ? {} : (body.config as Record<string, unknown>);
  checkTransport(deps, body.kind, config);
  const secretText = body.kind === "oidc" ? body.client_secret : body.kind === "ldap" ? body.bind_password : null;
  const secret = secretText === null ? null : await sealSourceSecret(deps.identity.keyring, id, secretText);
  await deps.host.batch(async (tx, step) => {
    if (organizationId) await lockOrg(tx, organizationId);
    await insertSource(tx, { id, organizationId, kind: body.kind, name: body.name, enabled: body.enabled, config, secret })
      .catch(uniqueAs("identity_sources_org_name_key", "identity_source.name_taken", "name in use"))
      .catch(uniqueAs("identity_sources_one_platform", "identity_source.platform_exists", "the platform has its source"));
    await audit(tx, change, organizationId, "identity_source.create", id, { kind: body.kind, name: body.name, enabled: body.enabled });
    if (body.kind === "ldap" && body.enabled) await scheduleSync(step, id, organizationId, config, change);
  });
  return id;
}

export async function changeSource(
  deps: Deps,
  source: SourceRow,
  patch: { name?: string; enabled?: boolean; config?: Record<string, unknown>; client_secret?: string; bind_password?: string },
  change: ChangeContext,
): Promise<void> {
  const config = patch.config ? parseConfig(source.kind, patch.config) : undefined;
  if (config) checkTransport(deps, source.kind, config);
  const secretText = source.kind === "oidc" ? patch.client_secret : source.kind === "ldap" ? patch.bind_password : undefined;
  if ((patch.client_secret !== undefined && source.kind !== "oidc") || (patch.bind_password !== undefined && source.kind !== "ldap"))
    throw new DomainError("identity_source.wrong_kind", "that secret belongs to another kind of source", { kind: source.kind });
  const secret = secretText === undefined ? undefined : await sealSourceSecret(deps.identity.keyring, source.id, secretText);
  await deps.host.batch(async (tx, step) => {
    await updateSource(tx, source.id, { name: patch.name, enabled: patch.enabled, config, secret }).catch(
      uniqueAs("identity_sources_org_name_key", "identity_source.name_taken", "name in use"),
    );
    await audit(tx, change, source.organizationId, "identity_source.update", source.id, {
      fields: Object.keys(patch).filter((k) => k !== "client_secret" && k !== "bind_password"),
      secret_changed: secretText !== undefined,
    });
    if (source.kind !== "ldap") return;
    const enabled = patch.enabled ?? source.enabled;
    if (enabled) await scheduleSync(step, source.id, source.organizationId, config ?? source.config, change);
    else if (source.enabled) await step(DIRECTORY_SYNC, source.id, { type: "directory_sync.stop" }, change);
  });
}

export async function removeSource(deps: Deps, source: SourceRow, change: ChangeContext): Promise<void> {
  await deps.host.batch(async (tx, step) => {
    if (source.kind === "ldap" && source.enabled) await step(DIRECTORY_SYNC, source.id, { type: "directory_sync.stop" }, change);
    await deleteSource(tx, source.id);
    await audit(tx, change, source.organizationId, "identity_source.delete", source.id, { kind: source.kind, name: source.name });
  });
}

export async function setMappings(deps: Deps, source: SourceRow, mappings: { group: string; role: OrgRole }[], change: ChangeContext): Promise<void> {
  const groups = new Set<string>();
  for (const m of mappings) {
    const key = m.group.toLowerCase();
    if (groups.has(key)) throw new DomainError("request.validation_failed", "a group is mapped twice", { field: "mappings", group: m.group });
    groups.add(key);
  }
  await deps.db.transaction(async (tx) => {
    await replaceMappings(
      tx,
      source.id,
      mappings.map((m) => ({ id: newId(), externalGroup: m.group, role: m.role })),
    );
    await audit(tx, change, source.organizationId, "identity_source.mappings", source.id, {
      mappings: mappings.map((m) => ({ group: m.group, role: m.role })),
    });
  });
}

export async function setSsoPolicy(deps: Pick<Deps, "db">, organizationId: string, requireSso: boolean, change: ChangeContext): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await setRequireSso(tx, organizationId, requireSso);
    await audit(tx, change, organizationId, "organization.sso_policy", organizationId, { require_sso: requireSso }, "organization");
  });
}

/** The source, if it exists and belongs to this organization (null: the platform's). */
export async function sourceOf(deps: Pick<Deps, "db">, organizationId: string | null, sourceId: string): Promise<SourceRow> {
  const s = await getSource(deps.db, sourceId);
  if (!s || s.organizationId !== organizationId) throw new DomainError("identity_source.not_found", "no such identity source", { id: sourceId });
  return s;
}

async function scheduleSync(
  step: (kind: string, id: string, event: { type: string } & Record<string, unknown>, change: ChangeContext) => Promise<unknown>,
  sourceId: string,
  organizationId: string | null,
  config: Record<string, unknown>,
  change: ChangeContext,
): Promise<void> {
  const intervalSeconds = typeof config.sync_interval_seconds === "number" ? config.sync_interval_seconds : 900;
  await step(DIRECTORY_SYNC, sourceId, { type: "directory_sync.schedule", organizationId, intervalSeconds }, change);
}

function audit(
  tx: Tx,
  change: ChangeContext,
  organizationId: string | null,
  action: string,
  targetId: string,
  details: Record<string, unknown>,
  targetType = "identity_source",
) {
  return appendAudit(tx, { change, organizationId, action, targetType, targetId, outcome: "success", details });
}
