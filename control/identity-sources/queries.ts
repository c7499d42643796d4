/**
 * Reads of identity sources for their admins (config without the secret,
 * mappings, last sync result), the public list the sign-in pages show (ids,
 * names and kinds of enabled sources only), and "test connection".
 */
import type { ControlDeps } from "../deps.ts";
import type { ChangeContext } from "../../core/change.ts";
import { DomainError } from "../../core/errors.ts";
import type { LdapConfig, OidcConfig } from "../../core/contracts/identity-sources.ts";
import { appendAudit } from "../../sql/audit.ts";
import { listMappings, listSources, orgIdBySlug, requiresSso, type MappingRow, type SourceRow } from "../../sql/identity-sources.ts";
import { withDirectory } from "./ldap-directory.ts";
import { discover } from "./oidc.ts";
import { openSourceSecret } from "./secret.ts";

type Deps = Pick<ControlDeps, "db" | "identity">;

export interface SourceView {
  source: SourceRow;
  mappings: MappingRow[];
}

export async function sourcesOf(deps: Pick<Deps, "db">, organizationId: string | null): Promise<SourceView[]> {
  const out: SourceView[] = [];
  for (const source of await listSources(deps.db, organizationId)) out.push({ source, mappings: await listMappings(deps.db, source.id) });
  return out;
}

export async function sourceView(deps: Pick<Deps, "db">, source: SourceRow): Promise<SourceView> {
  return { source, mappings: await listMappings(deps.db, source.id) };
}

export const ssoRequired = (deps: Pick<Deps, "db">, organizationId: string) => requiresSso(deps.db, organizationId);

/** What a sign-in page may show: enabled OIDC and LDAP sources of the organization (by slug), or the platform's. An unknown slug lists nothing. */
export async function signInChoices(deps: Pick<Deps, "db">, orgSlug: string | undefined): Promise<{ id: string; name: string; kind: string }[]> {
  const orgId = orgSlug === undefined ? null : await orgIdBySlug(deps.db, orgSlug);
  if (orgId === undefined) return [];
  return (await listSources(deps.db, orgId)).filter((s) => s.enabled && s.kind !== "local").map((s) => ({ id: s.id, name: s.name, kind: s.kind }));
}

/** Reaches the provider (discovery) or the directory (bind, count users and groups). Audited; a failure is an answer, not an error. */
export async function testConnection(
  deps: Deps,
  source: SourceRow,
  change: ChangeContext,
): Promise<{ ok: boolean; details: Record<string, unknown>; error?: string }> {
  let result: { ok: boolean; details: Record<string, unknown>; error?: string };
  try {
    if (source.kind === "oidc") {
      const meta = (await discover(deps, source)).serverMetadata();
      result = {
        ok: true,
        details: {
          issuer: meta.issuer,
          authorization_endpoint: meta.authorization_endpoint,
          token_endpoint: meta.token_endpoint,
          jwks_uri: meta.jwks_uri,
          pkce_s256: meta.code_challenge_methods_supported?.includes("S256") ?? false,
          groups_claim: (source.config as OidcConfig).groups_claim,
        },
      };
    } else if (source.kind === "ldap") {
      const secret = await openSourceSecret(deps.db, deps.identity.keyring, source.id);
      result = { ok: true, details: await withDirectory(source.config as LdapConfig, secret, deps.identity.production, (d) => d.census()) };
    } else {
      result = { ok: true, details: {} };
    }
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    result = { ok: false, error: err.code, details: { ...err.details } };
  }
  await appendAudit(deps.db, {
    change,
    organizationId: source.organizationId,
    action: "identity_source.test",
    targetType: "identity_source",
    targetId: source.id,
    outcome: result.ok ? "success" : "failure",
    reason: result.error ?? null,
  });
  return result;
}
