/** The organization a route acts on, or 404 when it does not exist or the caller cannot read it (so ids cannot be probed across tenants). */
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { canRead } from "../authorize.ts";
import { organization, type OrgRow } from "../../control/organizations/queries.ts";
import { DomainError } from "../../core/errors.ts";

export async function visibleOrg(c: Context<AppEnv>, orgId: string): Promise<OrgRow> {
  const org = canRead(c, orgId, "organization.read") ? await organization(c.get("deps"), orgId) : undefined;
  if (!org) throw new DomainError("organization.not_found", "no such organization", { id: orgId });
  return org;
}
