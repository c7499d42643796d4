/**
 * How an identity source's answer becomes an organization role, and whether
 * the provider's answer counts as a second factor. Pure: the control plane
 * calls these with what the provider or directory said. Only organization
 * roles exist here: no claim or group can name a platform role.
 */
import { ORG_ROLES, type OrgRole } from "./authz.ts";

/** Strongest first: a user in several mapped groups gets the strongest role. */
const RANK: Record<OrgRole, number> = { org_owner: 5, org_admin: 4, org_operator: 3, org_member: 2, org_viewer: 1 };

export interface GroupMapping {
  externalGroup: string;
  role: OrgRole;
}

/**
 * The role the user's groups map to (group names compare exactly; LDAP
 * group DNs compare without case), else the source's default role, else
 * null: the user is not let in.
 */
export function roleFromGroups(mappings: readonly GroupMapping[], groups: readonly string[], defaultRole: OrgRole | null): OrgRole | null {
  const have = new Set(groups.map((g) => g.toLowerCase()));
  let best: OrgRole | null = null;
  for (const m of mappings) {
    if (!(ORG_ROLES as readonly string[]).includes(m.role)) continue;
    if (!have.has(m.externalGroup.toLowerCase())) continue;
    if (best === null || RANK[m.role] > RANK[best]) best = m.role;
  }
  return best ?? defaultRole;
}

/** The groups a claim carries: a string array, or one string; anything else is no groups. */
export function groupsFromClaim(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((g): g is string => typeof g === "string" && g.length > 0 && g.length <= 1024).slice(0, 500);
  return [];
}

/**
 * Whether the ID token says the provider did multi-factor authentication:
 * `amr` contains `mfa` (RFC 8176), or `acr` is one the source lists as MFA.
 */
export function providerProvedMfa(claims: { amr?: unknown; acr?: unknown }, mfaAcrValues: readonly string[]): boolean {
  if (Array.isArray(claims.amr) && claims.amr.includes("mfa")) return true;
  return typeof claims.acr === "string" && mfaAcrValues.includes(claims.acr);
}
