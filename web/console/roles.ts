/** Node roles and the capability each needs, from the shared wire vocabulary. */
import { NODE_ROLES, ROLE_REQUIRES as BY_ROLE } from "../../core/contracts/roles.ts";

/** Indexed by any role name the API returns (unknown ones read as undefined). */
export const ROLE_REQUIRES: Readonly<Record<string, string>> = BY_ROLE;
export const ROLES: string[] = NODE_ROLES;
