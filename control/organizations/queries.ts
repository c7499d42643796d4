/** Reads of organizations and their members, sessions and safe endpoint names; callers decide visibility first. */
import { memberSessions as memberSessionRows, orgEndpoints as orgEndpointRows } from "../../sql/console-views.ts";
import { getMembership, getOrg, listMembers, listOrgs, type MemberRow, type OrgRow } from "../../sql/organizations.ts";
import type { ControlDeps } from "../deps.ts";
import { reader } from "../read.ts";

export type { MemberRow, OrgRow };

export const organization = reader(getOrg);
export const organizations = reader(listOrgs);
export const membership = reader(getMembership);
export const members = reader(listMembers);
export const organizationEndpoints = reader(orgEndpointRows);

/** Who of the organization is signed in now (no device hashes, addresses or tokens). */
export function signedInMembers(deps: Pick<ControlDeps, "db" | "clock">, orgId: string) {
  return memberSessionRows(deps.db, orgId, deps.clock(), 200);
}
